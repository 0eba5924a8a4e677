// The group runner under virtual time: three ElectionGroups over an in-memory network, each with
// a recording actor. Timing properties are asserted in virtual time only.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import {
  ElectionGroup,
  type ElectionGroup as Group,
  type LeadershipActor,
  type LeadershipFacts,
} from '../src/election/group.ts';
import { MemoryGroupStorage } from '../src/election/group-storage.ts';
import { encodeKvCommand } from '../src/election/kv/kv-codec.ts';
import { KvMachine } from '../src/election/kv-machine.ts';
import { DEFAULT_ELECTION_TIMING } from '../src/election/timing.ts';
import { MemoryNetwork } from '../src/election/transport.ts';
import { nextConfChange } from '../src/election/voters.ts';
import { VirtualRuntime } from '../src/runtime/index.ts';

const log = pino({ level: 'silent' });
const NAMES = ['a', 'b', 'c'];

interface Act {
  node: string;
  what: 'promote' | 'promoted' | 'demote' | 'demoted';
  at: number;
  token: number;
}

/** Acts take virtual time: promote 30 ms, demote 80 ms (a hook), and report when they start and end. */
function recordingActor(node: string, world: VirtualRuntime, acts: Act[]): LeadershipActor {
  const step = (what: Act['what'], f: LeadershipFacts) => acts.push({ node, what, at: world.worldNow, token: f.token });
  return {
    promote: (f) =>
      new Promise((resolve) => {
        step('promote', f);
        world.timers.after(30, () => {
          step('promoted', f);
          resolve();
        });
      }),
    demote: (f, deadline) =>
      new Promise((resolve) => {
        step('demote', f);
        world.timers.after(Math.max(0, Math.min(80, deadline - world.clock.now())), () => {
          step('demoted', f);
          resolve();
        });
      }),
  };
}

function cluster(seed: number, candidates?: readonly string[]) {
  const world = new VirtualRuntime(seed);
  const net = new MemoryNetwork((fn) => world.timers.after(2, fn));
  const acts: Act[] = [];
  const disks = new Map(NAMES.map((n) => [n, new MemoryGroupStorage()]));
  const groups = new Map<string, Group>();
  const machines = new Map<string, KvMachine>();
  const start = (node: string) => {
    const transport = net.transport(node);
    const sm = new KvMachine();
    machines.set(node, sm);
    const g = new ElectionGroup({
      group: 'db',
      self: node,
      runtime: world.fork(),
      storage: disks.get(node)!,
      send: (msg) => transport.send('db', msg),
      voters: NAMES,
      timing: { ...DEFAULT_ELECTION_TIMING, reconfigureIntervalMs: 250 },
      stateMachine: sm,
      actor: recordingActor(node, world, acts),
      ...(candidates ? { candidates: () => candidates } : {}),
      log,
      planChange: (st) =>
        nextConfChange({
          current: st.voters,
          desired: NAMES,
          members: NAMES.map((name) => ({ name, status: 'alive', zone: 'z' })),
          deadSince: new Map(),
          now: world.clock.now(),
          graceMs: 30_000,
          leader: node,
        }),
    });
    transport.onMessage((_group, msg) => g.receive(msg));
    groups.set(node, g);
    return g;
  };
  for (const n of NAMES) start(n);
  const leaders = () => [...groups.values()].filter((g) => g.status().acting === 'acting');
  /** Virtual time with the promise callbacks (actor results) run between steps. */
  const runUntil = async (done: () => boolean, limitMs: number): Promise<boolean> => {
    const end = world.worldNow + limitMs;
    for (;;) {
      await new Promise<void>((r) => setImmediate(r));
      if (done()) return true;
      if (world.worldNow >= end) return false;
      world.advance(5);
    }
  };
  return { world, net, acts, groups, machines, leaders, start, runUntil };
}

/** No two nodes act at once: every promote starts after the previous actor's demotion ended. */
function assertNoOverlap(acts: Act[]): void {
  let holder: string | undefined;
  for (const a of acts) {
    if (a.what === 'promote') {
      expect(holder, `${a.node} promoted at ${a.at} while ${holder} still acted`).toBeUndefined();
      holder = a.node;
    } else if (a.what === 'demoted') {
      if (holder === a.node) holder = undefined;
    }
  }
}

describe('election group runner (virtual time)', () => {
  it('bootstraps, grows to three voters through the log and acts on one leader', async () => {
    const c = cluster(1);
    expect(
      await c.runUntil(() => c.leaders().length === 1 && c.groups.get('a')!.status().voters.length === 3, 20_000),
    ).toBe(true);
    for (const g of c.groups.values()) expect(g.status().voters).toEqual(['a', 'b', 'c']);
    const leader = c.leaders()[0]!;
    expect(leader.claim()?.token).toBeGreaterThan(0);
    assertNoOverlap(c.acts);
  });

  it('replicates KV writes; a follower reads them linearizably', async () => {
    const c = cluster(2);
    await c.runUntil(() => c.leaders().length === 1, 20_000);
    const leader = c.leaders()[0]!;
    const put = leader.propose(encodeKvCommand({ op: 'put', key: 'k', value: new TextEncoder().encode('v1') }));
    let result: unknown;
    put.then((r) => {
      result = r;
    });
    await c.runUntil(() => result !== undefined, 5_000);
    expect(result).toMatchObject({ ok: true });
    const follower = [...c.groups.entries()].find(([, g]) => g !== leader)!;
    let read = false;
    follower[1].linearize().then(() => {
      read = true;
    });
    await c.runUntil(() => read, 5_000);
    expect(read).toBe(true);
    expect(new TextDecoder().decode(c.machines.get(follower[0])!.store.get('k')!.value)).toBe('v1');
  });

  it('a leader cut into the minority has demoted before the majority promotes; on heal there is one leader', async () => {
    for (const seed of [3, 4, 5, 6, 7]) {
      const c = cluster(seed);
      await c.runUntil(() => c.leaders().length === 1, 20_000);
      const old = c.leaders()[0]!;
      const oldName = [...c.groups.entries()].find(([, g]) => g === old)![0];
      const oldToken = old.claim()!.token;
      const rest = NAMES.filter((n) => n !== oldName);
      c.net.partition([oldName], rest);
      expect(await c.runUntil(() => c.leaders().some((g) => g !== old), 20_000)).toBe(true);
      const fresh = c.leaders().find((g) => g !== old)!;
      expect(fresh.claim()!.token).toBeGreaterThan(oldToken);
      expect(old.status().acting).toBe('standby');
      c.net.heal();
      await c.runUntil(() => false, 10_000);
      expect(c.leaders()).toEqual([fresh]);
      assertNoOverlap(c.acts);
    }
  });

  it('a witness never acts: when it wins, it hands the lead to a candidate', async () => {
    for (const seed of [11, 12, 13, 14, 15, 16]) {
      const c = cluster(seed, ['a', 'b']);
      expect(await c.runUntil(() => c.leaders().length === 1, 20_000)).toBe(true);
      // kill whichever candidate leads, so the witness c competes for the lead
      const first = c.leaders()[0]!;
      const name = [...c.groups.entries()].find(([, g]) => g === first)![0];
      c.net.partition(
        [name],
        NAMES.filter((n) => n !== name),
      );
      await c.runUntil(() => false, 15_000);
      expect(c.acts.filter((a) => a.node === 'c')).toEqual([]);
      expect(c.leaders().map((g) => g.status().leader)).toEqual([NAMES.find((n) => n !== name && n !== 'c')]);
      assertNoOverlap(c.acts);
    }
  });

  it('steps down gracefully to another voter', async () => {
    const c = cluster(8);
    await c.runUntil(() => c.leaders().length === 1, 20_000);
    const old = c.leaders()[0]!;
    const at = c.world.worldNow;
    let done = false;
    old.stepDown().then(() => {
      done = true;
    });
    expect(await c.runUntil(() => done && c.leaders().length === 1 && c.leaders()[0] !== old, 10_000)).toBe(true);
    const promoted = c.acts.filter((a) => a.what === 'promoted').at(-1)!;
    // switchover in virtual time: the demote hook (80 ms) + TimeoutNow + a vote + the noop commit + the promote hook (30 ms)
    expect(promoted.at - at).toBeLessThan(1000);
    assertNoOverlap(c.acts);
  });
});
