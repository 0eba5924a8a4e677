import type { Message } from '@vigil/protocol';
import { describe, expect, it } from 'vitest';
import type { TraceStep } from '../src/membership/probe-trail.ts';
import { PROFILES } from '../src/membership/profiles.ts';
import { DEFAULT_VOTER_HEALTH, type Output, type SwimEngine, type VoterHealth } from '../src/membership/swim-engine.ts';
import { engineKnowing, reachOverTcp } from './helpers/lone-engine.ts';

// Issue 19: on a starved cluster every gossip hop waits for the receiver's stall, so news that is
// sure (an accusation made on a refused connect, a dead verdict) goes to the members directly.
// Engine-level: one engine, its outputs read as they come; no network.

const PEERS = 12;

/**
 * Engine `a` at time 0 knowing PEERS live members p0..p11 at 10.0.1.1..12, p0's port having taken
 * our TCP (so its refusal counts); its trail.
 */
function engineWithPeers(voterHealth: VoterHealth) {
  const trail: { member: string; step: TraceStep }[] = [];
  const peers = Array.from({ length: PEERS }, (_, i) => ({ name: `p${i}`, host: `10.0.1.${i + 1}` }));
  const engine = engineKnowing(peers, voterHealth, (member, step) => trail.push({ member, step }));
  reachOverTcp(engine, ['10.0.1.1'], 0);
  return { engine, trail };
}

/** The hosts that packets carrying a message about `node` of `type` went to. */
function toldAbout(outputs: readonly Output[], type: Message['type'], node: string): string[] {
  const hosts = new Set<string>();
  for (const o of outputs) {
    if (o.kind !== 'packet') continue;
    if (o.messages.some((m) => m.type === type && 'node' in m && m.node === node)) hosts.add(o.to.host);
  }
  return [...hosts].sort();
}

/** Probes p0 out of turn (a catalog hint) at `now`; its TCP fallback's connect is refused. */
function refusedProbe(engine: SwimEngine, now: number): Output[] {
  expect(engine.probeNow('p0', now)).toBe(true);
  const tcp = engine.drainOutputs().find((o) => o.kind === 'tcpPing');
  expect(tcp?.kind, 'a hint dials at once').toBe('tcpPing');
  engine.handleTcpPingResult(tcp?.kind === 'tcpPing' ? tcp.ping.seqNo : -1, 'refused', now + 1);
  return engine.drainOutputs();
}

const others = Array.from({ length: PEERS - 1 }, (_, i) => `10.0.1.${i + 2}`).sort();

describe('news told directly (engine)', () => {
  it('tells an accusation made on a refused connect to every member, the chosen probers only otherwise', () => {
    const on = engineWithPeers(DEFAULT_VOTER_HEALTH);
    expect(toldAbout(refusedProbe(on.engine, 10), 'suspect', 'p0')).toEqual(others);
    expect(on.engine.member('p0')?.status).toBe('suspect');

    const off = engineWithPeers({ ...DEFAULT_VOTER_HEALTH, tellRefusal: false });
    const told = toldAbout(refusedProbe(off.engine, 10), 'suspect', 'p0');
    expect(told).toHaveLength(PROFILES.lan.confirmationProbers);
    expect(told).not.toContain('10.0.1.1');
  });

  it('does not tell a plain failed probe (no refusal) beyond the chosen probers', () => {
    // A voter from the start (quietMs 0): its failed probe accuses on UDP silence and a TCP timeout.
    const { engine } = engineWithPeers({ ...DEFAULT_VOTER_HEALTH, quietMs: 0 });
    expect(engine.probeNow('p0', 10)).toBe(true);
    const tcp = engine.drainOutputs().find((o) => o.kind === 'tcpPing');
    engine.handleTcpPingResult(tcp?.kind === 'tcpPing' ? tcp.ping.seqNo : -1, 'failed', 12);
    let told: string[] = [];
    for (let t = 20; t <= 1100 && engine.member('p0')?.status === 'alive'; t += 10) {
      engine.handleTimeout(t);
      told = toldAbout(engine.drainOutputs(), 'suspect', 'p0');
    }
    expect(engine.member('p0')?.status).toBe('suspect');
    expect(told).toHaveLength(PROFILES.lan.confirmationProbers);
  });

  it('tells its own dead verdict to every member; with tellDead off, gossip only', () => {
    const deadTold = (rule: VoterHealth) => {
      const { engine } = engineWithPeers(rule);
      refusedProbe(engine, 10);
      // Nobody answers the rechecks or confirms: the lone suspicion ends dead (rechecked first).
      for (let t = 100; t <= 60_000; t += 100) {
        engine.handleTimeout(t);
        const outputs = engine.drainOutputs();
        if (engine.member('p0')?.status === 'dead') return toldAbout(outputs, 'dead', 'p0');
      }
      throw new Error('p0 never declared dead');
    };
    // (p0 itself may get it too: gossip still goes to members dead for less than 30 s, as memberlist's.)
    expect(deadTold(DEFAULT_VOTER_HEALTH)).toEqual(expect.arrayContaining(others));
    expect(deadTold({ ...DEFAULT_VOTER_HEALTH, tellDead: false }).length).toBeLessThan(others.length);
  });

  it('leaves a trail of each step: the hint, the probe, the dial, the refusal, the accusation', () => {
    const { engine, trail } = engineWithPeers(DEFAULT_VOTER_HEALTH);
    refusedProbe(engine, 10);
    expect(engine.probeNow('p0', 20)).toBe(false); // suspect now: a hint changes nothing
    expect(trail.filter((t) => t.member === 'p0').map((t) => t.step)).toEqual([
      { step: 'hint', result: 'started' },
      { step: 'probe', why: 'hint', dialAtOnce: true },
      { step: 'dial' },
      { step: 'tcp', result: 'refused' },
      { step: 'failed', voter: true, accused: true },
      { step: 'hint', result: 'ignored' },
    ]);
  });

  it('counts a hint that finds a probe of the member already out as busy', () => {
    const { engine, trail } = engineWithPeers(DEFAULT_VOTER_HEALTH);
    expect(engine.probeNow('p1', 10)).toBe(true);
    expect(engine.probeNow('p1', 11)).toBe(false);
    expect(trail.filter((t) => t.step.step === 'hint').map((t) => t.step)).toEqual([
      { step: 'hint', result: 'started' },
      { step: 'hint', result: 'busy' },
    ]);
  });
});
