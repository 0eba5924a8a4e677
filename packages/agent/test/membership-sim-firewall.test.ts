import { describe, expect, it } from 'vitest';
import { DEFAULT_VOTER_HEALTH, type VoterHealth } from '../src/membership/swim-engine.ts';
import type { Starvation } from '../src/sim/simulator.ts';
import { convergedCluster, median, seconds, table } from './helpers/membership-sim.ts';

// A live member behind a firewall that rejects TCP to its gossip port and passes UDP (issue 19;
// `iptables -A INPUT -p tcp --dport 7946 -j REJECT`, a likely "opened 7946/udp only" mistake).
// The REJECT's ICMP port-unreachable reaches connect() as ECONNREFUSED, exactly as a crashed
// process's closed port does. Rule 5 made every refusal a vote from anyone, so two observers
// whose TCP fallback reached the member while it stalled (a probe's timeout passed) or that dialled
// at once on a catalog hint (the refusal beats the UDP ack) confirmed a healthy member, and
// routing drained it. Now a port that refused us while its member answered over UDP is
// remembered and its refusals count for nothing (VoterHealth.learnsRejection); a refusal from a
// port not known either way, read before the probe's UDP timeout, waits for it; and each node
// pings a few unknown ports per probe tick (proofDial), so it finds out soon after a start.
// This test holds that to: 0 confirmed views of a healthy firewalled member over 20 seeds on a
// settled cluster hinted every second, and far fewer than before on busy and starved clusters
// (a member that stalls before a given observer has found out is still at risk); the old rule
// confirms them by the hundred. A firewalled member that crashes is still found, by silence.

const SEEDS = 20;
const N = 20;
const FIREWALLED = 3;
const RUN_MS = 60_000;
/** A busy cluster, as membership-sim-starvation: stalls of 0.3-1 s, 2-8 s apart. */
const BUSY: Starvation = { stallMs: [300, 1000], gapMs: [2000, 8000] };
/** A start-up storm: stalls of 0.3-3 s, 0.2-2 s apart. */
const STARVED: Starvation = { stallMs: [300, 3000], gapMs: [200, 2000] };
/** Catalog peers that probe a member out of turn when their connection to it resets. */
const CATALOG_PEERS = 6;

type Load = 'hinted' | 'busy' | 'starved';

function firewallRun(rule: VoterHealth, seed: number, load: Load) {
  // The firewall is there from the start: no exchange of ours ever reached those ports.
  const { sim, names } = convergedCluster(N, { seed, engine: { voterHealth: rule, tcpPing: true } }, 0);
  const firewalled = names.slice(0, FIREWALLED);
  const others = names.slice(FIREWALLED);
  for (const name of firewalled) sim.rejectTcp(name);
  sim.run(5000);
  // Views: (observer, member) pairs that were ever confirmed suspect, or dead.
  const confirmedViews = new Set<string>();
  const deadViews = new Set<string>();
  let falseElsewhere = 0;
  sim.onEvent((e) => {
    if (!firewalled.includes(e.member.name)) {
      if (e.type === 'confirmed' || e.type === 'dead') falseElsewhere++;
      return;
    }
    const view = `${e.observer}>${e.member.name}`;
    if (e.type === 'confirmed') confirmedViews.add(view);
    if (e.type === 'dead') deadViews.add(view);
  });
  if (load === 'hinted') {
    // Every second, the catalog connections to each firewalled member reset on some peers.
    for (let t = 0; t < RUN_MS; t += 1000) {
      for (const target of firewalled) {
        const peers = others.filter((_, i) => (i + t / 1000 + firewalled.indexOf(target)) % 3 === 0);
        for (const peer of peers.slice(0, CATALOG_PEERS)) sim.actWhenRunning(peer, (e, now) => e.probeNow(target, now));
      }
      sim.run(1000);
    }
  } else {
    sim.starve(names, load === 'busy' ? BUSY : STARVED);
    sim.run(RUN_MS);
  }
  return { confirmed: confirmedViews.size, dead: deadViews.size, falseElsewhere };
}

/** A firewalled member crashes on a settled cluster: when every survivor shows it dead. */
function firewalledCrash(rule: VoterHealth, seed: number): number {
  const { sim, names } = convergedCluster(N, { seed, engine: { voterHealth: rule, tcpPing: true } }, 0);
  const victim = names[0]!;
  sim.rejectTcp(victim);
  sim.run(20_000);
  const survivors = names.slice(1);
  const dead = new Map<string, number>();
  sim.onEvent((e) => {
    if (e.member.name === victim && e.type === 'dead' && !dead.has(e.observer)) dead.set(e.observer, e.at);
  });
  const at = sim.now;
  sim.crash(victim);
  for (const peer of survivors.slice(0, CATALOG_PEERS)) sim.actWhenRunning(peer, (e, now) => e.probeNow(victim, now));
  sim.runUntil(() => dead.size === survivors.length, 120_000, 50);
  return dead.size === survivors.length ? Math.max(...dead.values()) - at : Number.POSITIVE_INFINITY;
}

const OLD_RULE: VoterHealth = { ...DEFAULT_VOTER_HEALTH, learnsRejection: false, proofDial: false };
const seeds = (count: number, base: number) => Array.from({ length: count }, (_, i) => base + i);
const sum = <T>(runs: readonly T[], pick: (r: T) => number) => runs.reduce((s, r) => s + pick(r), 0);

describe('a live member whose firewall rejects TCP (simulator)', () => {
  it('is never confirmed suspect, and still found dead when it crashes; 20 seeds', { timeout: 300_000 }, () => {
    const rules: [string, VoterHealth][] = [
      ['before: a refusal from any address votes', OLD_RULE],
      ['only from a port that took our TCP, proof pings', { ...OLD_RULE, refusalNeedsProof: true, proofDial: true }],
      ['a rejecting port learnt, proof pings (default)', DEFAULT_VOTER_HEALTH],
    ];
    const loads: Load[] = ['hinted', 'busy', 'starved'];
    const rows = rules.map(([label, rule]) => ({
      label,
      loads: loads.map((load, i) => seeds(SEEDS, 1100 + 100 * i).map((s) => firewallRun(rule, s, load))),
      crash: seeds(SEEDS, 1400).map((s) => firewalledCrash(rule, s)),
    }));
    console.log(
      table(
        `N = ${N}, ${FIREWALLED} live members behind a TCP-rejecting firewall, ${RUN_MS / 1000} s, ${SEEDS} seeds: confirmed / dead views of them (observer-member pairs, summed); their crash: every survivor dead, median s`,
        ['rule', 'hinted every 1 s', 'busy', 'starved', 'crash: dead'],
        rows.map((r) => [
          r.label,
          ...r.loads.map((runs) => `${sum(runs, (x) => x.confirmed)} / ${sum(runs, (x) => x.dead)}`),
          seconds(median(r.crash)),
        ]),
      ),
    );

    const [before, strict, chosen] = rows;
    // The scenario must reproduce the hole: the old rule confirms healthy firewalled members.
    expect(
      sum(before!.loads[0]!, (x) => x.confirmed),
      'hinted: the old rule confirms',
    ).toBeGreaterThan(0);
    expect(
      sum(before!.loads[1]!, (x) => x.confirmed),
      'busy: the old rule confirms',
    ).toBeGreaterThan(0);
    for (const r of [...strict!.loads.flat(), ...chosen!.loads[0]!]) {
      expect(r.confirmed, 'no confirmed view of a live firewalled member').toBe(0);
    }
    for (const r of chosen!.loads.flat()) expect(r.dead, 'no dead view of a live firewalled member').toBe(0);
    for (const load of [1, 2]) {
      const [old, now] = [before!, chosen!].map((row) => sum(row.loads[load]!, (x) => x.confirmed));
      expect(now, `${loads[load]}: a tenth of the old rule's confirmed views at most`).toBeLessThanOrEqual(old! / 10);
    }
    // Settled and hinted (no stall anywhere): nobody else is touched either.
    for (const r of chosen!.loads[0]!) expect(r.falseElsewhere).toBe(0);
    for (const ms of chosen!.crash) expect(ms, 'a crashed firewalled member is dead everywhere').toBeLessThan(30_000);
  });
});
