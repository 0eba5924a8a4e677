import { NodeState, type PushNodeState } from '@vigil/protocol';
import { ipToBytes } from '../../src/membership/address.ts';
import type { TraceStep } from '../../src/membership/probe-trail.ts';
import { PROFILES } from '../../src/membership/profiles.ts';
import { DEFAULT_VSN, SwimEngine, type VoterHealth } from '../../src/membership/swim-engine.ts';

/**
 * One engine, `a` at 10.0.0.1, started at time 0 and knowing `peers` live members (each at its
 * host, port 7946, with the TCP fallback's vsn), its outputs and events drained: a test then
 * drives it by hand and reads what it sends. `random` is its randomness (0.5 always by default).
 */
export function engineKnowing(
  peers: readonly { name: string; host: string }[],
  voterHealth: VoterHealth,
  onTrace?: (member: string, step: TraceStep) => void,
  random: () => number = () => 0.5,
): SwimEngine {
  const engine = new SwimEngine(
    {
      name: 'a',
      addr: { host: '10.0.0.1', port: 7946 },
      meta: new Uint8Array(0),
      profile: PROFILES.lan,
      random,
      voterHealth,
      ...(onTrace ? { onTrace } : {}),
    },
    0,
  );
  engine.start(0);
  learn(engine, peers, 0);
  engine.drainOutputs();
  engine.drainEvents();
  return engine;
}

/** Has `engine` learn `peers` as live members (each at its host, port 7946) at `now`. */
export function learn(engine: SwimEngine, peers: readonly { name: string; host: string }[], now: number): void {
  const states: PushNodeState[] = peers.map((p) => ({
    name: p.name,
    addr: ipToBytes(p.host),
    port: 7946,
    meta: new Uint8Array(0),
    incarnation: 1,
    state: NodeState.alive,
    vsn: [...DEFAULT_VSN],
  }));
  engine.preloadMembers(states, now);
}

/**
 * Has `engine` push/pull with each host (port 7946) between `now` and `now + 10`: their ports
 * took our TCP, so a refusal from them later counts (VoterHealth.refusalNeedsProof).
 */
export function reachOverTcp(engine: SwimEngine, hosts: readonly string[], now: number): void {
  for (const host of hosts) {
    const [id] = engine.join([{ host, port: 7946 }], now);
    engine.handlePushPullResponse(
      id!,
      { type: 'pushPull', join: false, nodes: [], userState: new Uint8Array(0) },
      now + 10,
    );
  }
  engine.drainOutputs();
}
