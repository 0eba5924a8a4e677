import type { PushPull, Suspect } from '@vigil/protocol';
import { describe, expect, it, vi } from 'vitest';
import { ipToBytes } from '../src/membership/address.ts';
import { PROFILES } from '../src/membership/profiles.ts';
import { DEFAULT_VSN } from '../src/membership/swim-engine.ts';
import { Simulator } from '../src/sim/simulator.ts';
import { convergedCluster } from './helpers/membership-sim.ts';

// SwimEngine scenarios, driven through the deterministic simulator (virtual time, seeded).

const statusOf = (sim: Simulator, observer: string, member: string) => sim.node(observer).engine.member(member)?.status;
const othersOf = (names: string[], ...skip: string[]) => names.filter((n) => !skip.includes(n));
const deadVerdicts = (sim: Simulator, member: string) =>
  sim.events.filter((e) => e.member.name === member && e.type === 'dead');

describe('SwimEngine scenarios (simulator)', () => {
  it('parks its gossip ticks while nothing is queued, and gossips again at the next news', () => {
    const { sim, names } = convergedCluster(6, { seed: 5 });
    sim.run(60_000); // every join's broadcasts have run out of retransmits
    const engine = sim.node('node-0').engine;
    expect(engine.pendingBroadcasts()).toBe(0);
    // Idle, the engine wakes for its probes (1 s) and little else; gossip ticks at 200 ms would
    // add 50 wake-ups in these 10 s.
    const wakes = vi.spyOn(engine, 'handleTimeout');
    sim.run(10_000);
    expect(wakes.mock.calls.length).toBeLessThanOrEqual(20);
    // News resumes the rounds: its retransmits go out every 200 ms as before, not only on the
    // probes' piggyback (1 s apart), so every queue is empty again within a second or so.
    const inc = sim.node('node-2').engine.member('node-2')!.incarnation;
    const lie: Suspect = { type: 'suspect', incarnation: inc, node: 'node-2', from: 'node-1' };
    sim.act('node-1', (e, now) => e.handlePacket(sim.node('node-1').addr, [lie], now));
    const drained = sim.runUntil(() => names.every((n) => sim.node(n).engine.pendingBroadcasts() === 0), 10_000, 10);
    expect(drained).toBeDefined();
    expect(drained!).toBeLessThan(1_500);
    expect(othersOf(names, 'node-2').every((o) => statusOf(sim, o, 'node-2') === 'alive')).toBe(true);
  });

  it('parks its probe ticks while alone, and probes again once someone rejoins', () => {
    const { sim } = convergedCluster(3, { seed: 7 });
    sim.crash('node-1');
    sim.crash('node-2');
    const alone = () => ['node-1', 'node-2'].every((m) => statusOf(sim, 'node-0', m) === 'dead');
    expect(sim.runUntil(alone, 60_000)).toBeDefined();
    sim.run(30_000); // the deaths' news has run out of retransmits
    const engine = sim.node('node-0').engine;
    // Alone, nothing is due but reaping (15 s), reconnecting (30 s) and push/pull: 8 wake-ups in
    // this minute. Probe ticks would add one per probe interval (6 s at the health score its
    // failed probes left: 10 more).
    const wakes = vi.spyOn(engine, 'handleTimeout');
    sim.run(60_000);
    expect(wakes.mock.calls.length).toBeLessThanOrEqual(10);
    // A member that comes back is probed again: its next crash is detected as before.
    sim.restart('node-1');
    expect(sim.runUntil(() => statusOf(sim, 'node-0', 'node-1') === 'alive', 10_000)).toBeDefined();
    sim.run(5_000);
    sim.crash('node-1');
    expect(sim.runUntil(() => statusOf(sim, 'node-0', 'node-1') === 'dead', 60_000)).toBeDefined();
  });

  it('a lone start parks its ticks with its news unsent, and sends it when someone joins', () => {
    const sim = new Simulator({ seed: 3 });
    const engine = sim.addNode('solo').engine;
    sim.run(1_000);
    // Its alive and start-up news stay queued (nobody takes them), yet gossip ticks (200 ms) and
    // probe ticks stop: only reaping, reconnect and push/pull remain, a handful a minute.
    expect(engine.pendingBroadcasts()).toBeGreaterThan(0);
    const wakes = vi.spyOn(engine, 'handleTimeout');
    sim.run(60_000);
    expect(wakes.mock.calls.length).toBeLessThanOrEqual(10);
    sim.addNode('late', 'solo');
    const drained = sim.runUntil(() => engine.pendingBroadcasts() === 0, 10_000, 10);
    expect(drained, 'the queued news gossiped once a member joined').toBeDefined();
    expect(statusOf(sim, 'late', 'solo')).toBe('alive');
  });

  it('refutes a false suspicion: the accused out-bids it and nobody declares it dead', () => {
    const { sim, names } = convergedCluster(8, { seed: 1 });
    const before = sim.node('node-2').engine.member('node-2')!.incarnation;
    // node-1 wrongly accuses node-2 (as if its probe had failed).
    const lie: Suspect = { type: 'suspect', incarnation: before, node: 'node-2', from: 'node-1' };
    sim.act('node-1', (engine, now) => engine.handlePacket(sim.node('node-1').addr, [lie], now));
    expect(statusOf(sim, 'node-1', 'node-2')).toBe('suspect');

    sim.run(10_000);

    const refuted = sim.node('node-2').engine.member('node-2')!.incarnation;
    expect(refuted).toBeGreaterThan(before);
    for (const observer of othersOf(names, 'node-2')) {
      const view = sim.node(observer).engine.member('node-2')!;
      expect([observer, view.status, view.incarnation]).toEqual([observer, 'alive', refuted]);
    }
    expect(deadVerdicts(sim, 'node-2')).toEqual([]);
    const seenBy1 = sim.events.filter((e) => e.observer === 'node-1' && e.member.name === 'node-2').map((e) => e.type);
    expect(seenBy1).toEqual(['suspect', 'alive']);
  });

  it('shows a graceful leave as left everywhere, never dead, even after the process is gone', () => {
    const { sim, names } = convergedCluster(10, { seed: 2 });
    sim.leave('node-4');
    sim.run(2000);
    sim.crash('node-4'); // the process exits after announcing its leave
    sim.run(60_000);
    for (const observer of othersOf(names, 'node-4')) expect(statusOf(sim, observer, 'node-4')).toBe('left');
    expect(deadVerdicts(sim, 'node-4')).toEqual([]);
    expect(sim.converged()).toBe(true); // the others still see each other alive
  });

  it('a restarted member out-bids its old life even when nobody suspected it', () => {
    const { sim, names } = convergedCluster(8, { seed: 4 });
    // The old life refuted three accusations: the cluster holds it at incarnation 4.
    for (let i = 0; i < 3; i++) {
      const inc = sim.node('node-2').engine.member('node-2')!.incarnation;
      const lie: Suspect = { type: 'suspect', incarnation: inc, node: 'node-2', from: 'node-1' };
      sim.act('node-2', (engine, now) => engine.handlePacket(sim.node('node-1').addr, [lie], now));
    }
    sim.run(5000);
    const old = sim.node('node-0').engine.member('node-2')!.incarnation;
    expect(old).toBeGreaterThanOrEqual(4);
    // Back at once: a fresh engine (incarnation 1) joins before anyone probed the silence.
    sim.crash('node-2');
    sim.restart('node-2');
    sim.run(5000);
    const own = sim.node('node-2').engine.member('node-2')!.incarnation;
    // memberlist refutes an alive about itself with a newer incarnation, whatever its metadata:
    // otherwise the new life's alive messages (and a later metadata change) lose to the old one.
    expect(own).toBeGreaterThan(old);
    for (const observer of othersOf(names, 'node-2')) {
      const view = sim.node(observer).engine.member('node-2')!;
      expect([observer, view.status, view.incarnation]).toEqual([observer, 'alive', own]);
    }
  });

  it('after a stall, reads the acks that arrived meanwhile before judging its probes', () => {
    const { sim } = convergedCluster(8, { seed: 5 }, 5000);
    const suspicions = () => sim.events.filter((e) => e.type === 'suspect' && e.observer === 'node-1').length;
    const before = suspicions();
    // node-1 probes node-2, then its event loop stalls past the probe's deadline. node-2's ack
    // arrives during the stall and waits in the socket; Node then runs the overdue timers first.
    sim.act('node-1', (engine, now) => engine.probeNow('node-2', now));
    sim.pause('node-1', 1500);
    sim.run(5000);
    expect(suspicions()).toBe(before);
    expect(statusOf(sim, 'node-1', 'node-2')).toBe('alive');
  });

  it('rejects a second claim on a live name from another address', () => {
    const { sim, names } = convergedCluster(8, { seed: 3 });
    const original = sim.node('node-3').addr;
    const impostor = sim.addNode('node-3', 'node-0'); // same name, new address, joins through node-0
    expect(impostor.addr).not.toEqual(original);
    sim.run(30_000);
    for (const observer of othersOf(names, 'node-3')) {
      const view = sim.node(observer).engine.member('node-3')!;
      expect([observer, view.status, view.addr]).toEqual([observer, 'alive', original]);
    }
  });

  it('accepts a node restarted with a new address only after the dead-node reclaim time', () => {
    const { sim, names } = convergedCluster(8, { seed: 4 });
    const reclaimMs = PROFILES.lan.deadNodeReclaimMs;
    const others = othersOf(names, 'node-5');
    sim.crash('node-5');
    expect(sim.runUntil(() => others.every((o) => statusOf(sim, o, 'node-5') === 'dead'), 60_000)).toBeDefined();
    const deadSince = new Map(others.map((o) => [o, sim.node(o).engine.member('node-5')!.stateChangeAt]));

    // Restarted 5 s later on another address: too early, the old entry is dead but not reclaimable.
    sim.run(5000);
    const restarted = sim.addNode('node-5', 'node-0');
    sim.run(5000);
    for (const o of others) expect(sim.node(o).engine.member('node-5')!.status).toBe('dead');

    // Once the reclaim time has passed, anti-entropy carries the new address to everyone.
    const onNewAddress = (o: string) => {
      const view = sim.node(o).engine.member('node-5');
      return view?.status === 'alive' && view.addr.host === restarted.addr.host;
    };
    expect(sim.runUntil(() => others.every(onNewAddress), 120_000, 100)).toBeDefined();
    for (const o of others) {
      const accepted = sim.events.find(
        (e) => e.observer === o && e.member.name === 'node-5' && e.type === 'join' && e.at > deadSince.get(o)!,
      )!;
      expect(accepted.at - deadSince.get(o)!).toBeGreaterThanOrEqual(reclaimMs);
    }
  });

  it('force-leave turns a failed member into left everywhere, and refuses a live one', () => {
    const { sim, names } = convergedCluster(10, { seed: 5 });
    const others = othersOf(names, 'node-6');
    sim.crash('node-6');
    expect(sim.runUntil(() => others.every((o) => statusOf(sim, o, 'node-6') === 'dead'), 60_000)).toBeDefined();

    expect(sim.act('node-0', (engine, now) => engine.forceLeave('node-1', now))).toBe(false);
    expect(sim.act('node-0', (engine, now) => engine.forceLeave('no-such-node', now))).toBe(false);
    expect(sim.act('node-0', (engine, now) => engine.forceLeave('node-6', now))).toBe(true);
    sim.run(5000);
    for (const o of others) expect(statusOf(sim, o, 'node-6')).toBe('left');
    expect(statusOf(sim, 'node-0', 'node-1')).toBe('alive');
  });

  it('merges a remote dead from push/pull as a local suspect, never as dead', () => {
    const { sim } = convergedCluster(10, { seed: 6 });
    const pushPullSaying = (name: string, state: 1 | 2): PushPull => {
      const view = sim.node('node-0').engine.member(name)!;
      return {
        type: 'pushPull',
        join: false,
        nodes: [
          {
            name,
            addr: ipToBytes(view.addr.host),
            port: view.addr.port,
            meta: view.meta,
            incarnation: view.incarnation,
            state,
            vsn: DEFAULT_VSN,
          },
        ],
        userState: new Uint8Array(0),
      };
    };

    // node-7 is fine; a peer's push/pull claims it is dead. node-0 only suspects it, so node-7
    // gets its chance to refute, and does.
    sim.act('node-0', (engine, now) => engine.handleRemotePushPull(pushPullSaying('node-7', 2), now));
    expect(statusOf(sim, 'node-0', 'node-7')).toBe('suspect');
    sim.run(10_000);
    expect(statusOf(sim, 'node-0', 'node-7')).toBe('alive');
    expect(deadVerdicts(sim, 'node-7')).toEqual([]);

    // node-8 really crashed: the same merge starts a suspicion that ends in a verdict later.
    sim.crash('node-8');
    const mergedAt = sim.now;
    sim.act('node-0', (engine, now) => engine.handleRemotePushPull(pushPullSaying('node-8', 2), now));
    expect(statusOf(sim, 'node-0', 'node-8')).toBe('suspect');
    expect(sim.runUntil(() => statusOf(sim, 'node-0', 'node-8') === 'dead', 60_000)).toBeDefined();
    const verdict = deadVerdicts(sim, 'node-8').find((e) => e.observer === 'node-0')!;
    expect(verdict.at).toBeGreaterThan(mergedAt);
  });
  it('a merged suspicion counts no observer and goes only to the suspect (rule 7); memberlist counts us', () => {
    const run = (engine: { collectiveConfirmation?: boolean }) => {
      const { sim, names } = convergedCluster(10, { seed: 6, engine });
      const pushPull = (): PushPull => {
        const view = sim.node('node-0').engine.member('node-7')!;
        const node = { name: 'node-7', addr: ipToBytes(view.addr.host), port: view.addr.port, meta: view.meta };
        const state = { incarnation: view.incarnation, state: 1 as const, vsn: DEFAULT_VSN };
        return { type: 'pushPull', join: false, nodes: [{ ...node, ...state }], userState: new Uint8Array(0) };
      };
      const seen = new Set<string>();
      sim.onEvent((e) => {
        if (e.member.name === 'node-7' && e.type === 'suspect') seen.add(e.observer);
      });
      sim.act('node-0', (e, now) => e.handleRemotePushPull(pushPull(), now));
      const merged = sim.node('node-0').engine.member('node-7')!.confirmations;
      sim.run(10_000);
      const others = othersOf(names, 'node-0', 'node-7').filter((o) => seen.has(o));
      const status = statusOf(sim, 'node-0', 'node-7');
      // Merged again, then one real accuser before node-7 can refute: alone, it is no confirmation.
      sim.act('node-0', (e, now) => e.handleRemotePushPull(pushPull(), now));
      const incarnation = sim.node('node-0').engine.member('node-7')!.incarnation;
      const lie: Suspect = { type: 'suspect', incarnation, node: 'node-7', from: 'node-1' };
      sim.act('node-0', (e, now) => e.handlePacket(sim.node('node-1').addr, [lie], now));
      return { merged, others, status, confirmations: sim.node('node-0').engine.member('node-7')!.confirmations };
    };
    const ours = run({});
    expect(ours.merged).toBe(0);
    expect(ours.confirmations).toBe(1);
    // Nobody else heard a suspicion under node-0's name, and node-7 refuted what it was told.
    expect(ours.others).toEqual([]);
    expect(ours.status).toBe('alive');
    // memberlist's mergeState: the merged state is a suspicion of ours, so one accuser confirms it.
    const memberlist = run({ collectiveConfirmation: false });
    expect(memberlist.merged).toBe(1);
    expect(memberlist.confirmations).toBe(2);
  });
  it('probes out of turn on a hint: a crash is suspected at once, a live member just answers', () => {
    const { sim, names } = convergedCluster(50, { seed: 11 });
    const victim = 'node-17';
    // A live member: the out-of-turn probe is answered and nothing changes.
    expect(sim.act('node-1', (engine, now) => engine.probeNow('node-30', now))).toBe(true);
    expect(
      sim.act('node-1', (engine, now) => engine.probeNow('node-30', now)),
      'one at a time',
    ).toBe(false);
    sim.run(3000);
    expect(sim.events.filter((e) => e.member.name === 'node-30' && e.type !== 'alive')).toEqual([]);

    // A crash, hinted to the three peers whose connections to it dropped.
    const confirmed = new Map<string, number>();
    let firstSuspect: number | undefined;
    sim.onEvent((e) => {
      if (e.member.name === victim && e.type === 'suspect') firstSuspect ??= e.at;
      if (e.member.name === victim && e.member.confirmedSuspect && !confirmed.has(e.observer)) {
        confirmed.set(e.observer, e.at);
      }
    });
    const crashedAt = sim.now;
    sim.crash(victim);
    for (const peer of ['node-2', 'node-3', 'node-4']) {
      expect(sim.act(peer, (engine, now) => engine.probeNow(victim, now))).toBe(true);
    }
    const survivors = othersOf(names, victim);
    const took = sim.runUntil(() => confirmed.size === survivors.length, 10_000, 10);
    // One probe interval for the hinted probes to fail, then collective confirmation: well inside
    // the 3 s routing budget, whatever the victim's place in everyone's probe order.
    expect(took, 'every survivor sees the crash confirmed suspect').toBeDefined();
    // The hinted probes fail after one probe interval: the first suspicion comes then, not at
    // whenever the victim's turn in some prober's round-robin happens to come.
    expect(firstSuspect! - crashedAt).toBeLessThanOrEqual(PROFILES.lan.probeIntervalMs + 50);
    expect(Math.max(...confirmed.values()) - crashedAt).toBeLessThanOrEqual(2000);
    expect(
      sim.act('node-2', (engine, now) => engine.probeNow('node-2', now)),
      'never itself',
    ).toBe(false);
  });
});
