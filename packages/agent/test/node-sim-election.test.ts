// Whole nodes with the election plane (simulator): the real Elections (bootstrap, voters, Raft over
// the catalog's lent streams, leases, leader claims in the records) on top of membership, catalog,
// mesh and routing, under virtual time and one seed. The group is service `db` (policy leader)
// hosted on n0..n2, so they are its three voters; n3 and n4 only route to it.
//
// The one fake: OnPromote/OnDemote do not spawn processes. A stand-in hook runner (NodeSim's)
// replaces the shell hook and records each call, with its token, term and virtual time, so the
// tests can check that two nodes never act at once. A failure prints the command that replays it.

import { afterEach, describe, expect, it } from 'vitest';
import type { ActingState } from '../src/election/group.ts';
import {
  forEachSeed,
  leaderService,
  NodeSim,
  type NodeSimOptions,
  replayCommand,
  simSeeds,
} from '../src/sim/node-sim.ts';

const FILE = 'test/node-sim-election.test.ts';
const NODES = ['n0', 'n1', 'n2', 'n3', 'n4'];
const VOTERS = ['n0', 'n1', 'n2'];
const GROUP = 'db';
let sims: NodeSim[] = [];
afterEach(async () => {
  for (const s of sims) await s.stop();
  sims = [];
});

async function start(testName: string, seed: number, extra: Partial<NodeSimOptions> = {}): Promise<NodeSim> {
  const sim = await NodeSim.start({
    seed,
    nodes: NODES,
    testName,
    testFile: FILE,
    services: (name, i) => (VOTERS.includes(name) ? [leaderService(GROUP, name, i)] : []),
    elections: {},
    ...extra,
  });
  sims.push(sim);
  return sim;
}

const replay = (testName: string) => (seed: number) => replayCommand(FILE, testName, seed);
const up = (sim: NodeSim) => NODES.filter((n) => !sim.agent(n).crashed);
const status = (sim: NodeSim, node: string) => sim.agent(node).elections?.group(GROUP)?.status();

/** Nodes whose group acts (or is starting to): at most one at any instant. */
function actors(sim: NodeSim): string[] {
  const busy: readonly ActingState[] = ['promoting', 'acting'];
  return up(sim).filter((n) => {
    const st = status(sim, n);
    return st !== undefined && busy.includes(st.acting);
  });
}

/** The one acting leader, if exactly one node acts and leads. */
function actingLeader(sim: NodeSim): string | undefined {
  const a = actors(sim);
  return a.length === 1 && status(sim, a[0]!)?.acting === 'acting' && status(sim, a[0]!)?.role === 'leader'
    ? a[0]
    : undefined;
}

/** Every observer's routing table for the group sends its traffic to `leader`'s instance. */
function tablesFollow(sim: NodeSim, observers: readonly string[], leader: string): boolean {
  return observers.every((o) => {
    const t = sim.table(o, GROUP);
    return (
      t?.leader?.node === leader &&
      t.endpoints
        .filter((e) => e.share > 0)
        .map((e) => e.node)
        .join() === leader
    );
  });
}

/**
 * Runs until `done`, checking at every step (10 virtual ms) that no two nodes act at once: the
 * lease and the step-down are what guarantee it.
 */
async function runWatched(sim: NodeSim, done: () => boolean, limitMs: number): Promise<number | undefined> {
  let overlap: string[] | undefined;
  const took = await sim.runUntil(() => {
    const a = actors(sim);
    if (a.length > 1) overlap ??= a;
    return overlap !== undefined || done();
  }, limitMs);
  expect(overlap, `nodes acting at once at ${sim.runtime.worldNow}`).toBeUndefined();
  return took;
}

/** Hook runs say: fencing tokens and terms only rise, one promotion per term. */
function expectFencedHistory(sim: NodeSim): void {
  const promotions = sim.hookRuns.filter((r) => r.kind === 'promote');
  for (let i = 1; i < promotions.length; i++) {
    expect(promotions[i]!.token, 'fencing tokens rise').toBeGreaterThan(promotions[i - 1]!.token);
    expect(promotions[i]!.term, 'one promotion per term').toBeGreaterThan(promotions[i - 1]!.term);
  }
}

async function elect(sim: NodeSim): Promise<string> {
  let leader: string | undefined;
  const took = await runWatched(
    sim,
    () => {
      leader = actingLeader(sim);
      return leader !== undefined && tablesFollow(sim, NODES, leader);
    },
    30_000,
  );
  expect(took, 'a leader acts and every table routes to it').toBeDefined();
  return leader!;
}

describe('whole nodes with elections (simulator)', { timeout: 60_000 }, () => {
  it('elects one leader among the voters; every node routes to it', async () => {
    const name = 'elects one leader among the voters';
    await forEachSeed(simSeeds([1, 2]), replay(name), async (seed) => {
      const sim = await start(name, seed);
      const leader = await elect(sim);
      expect(VOTERS).toContain(leader);
      const st = status(sim, leader)!;
      expect(st.voters).toEqual(VOTERS);
      expect(st.token).toBeGreaterThan(0);
      // Non-voters run no replica: they learn the leader from its claim in the catalog.
      for (const n of ['n3', 'n4']) expect(sim.agent(n).elections!.group(GROUP)).toBeUndefined();
      for (const n of NODES) {
        expect(sim.agent(n).elections!.leaderOf(GROUP)).toBe(leader);
        expect(sim.table(n, GROUP)?.leader).toMatchObject({ node: leader, token: st.token, term: st.term });
      }
      expect(sim.hookRuns).toEqual([
        { node: leader, kind: 'promote', service: GROUP, token: st.token, term: st.term, at: expect.any(Number) },
      ]);
    });
  });

  it('a burst of membership changes costs one pass over the members, not one per change', async () => {
    const sim = await start('a burst of membership changes', 1);
    await elect(sim);
    const { membership } = sim.agent('n3');
    const read = membership.members.bind(membership);
    let reads = 0;
    membership.members = () => {
      reads++;
      return read();
    };
    // A push/pull's merge: many changes read in one turn of the loop, one event each.
    const n4 = membership.member('n4')!;
    for (let i = 0; i < 20; i++)
      membership.emit('event', { index: 0, type: 'update', at: sim.runtime.worldNow, member: n4 });
    await sim.run(10);
    // The mesh's pass and the elections' (its members and its specs), and at most one periodic
    // pass: a handful of reads, where a pass per change made 41.
    expect(reads).toBeGreaterThan(0);
    expect(reads).toBeLessThanOrEqual(5);
  });

  it("a crash of the leader's node: a new leader with a higher token, tables follow, the old one rejoins", async () => {
    const name = "a crash of the leader's node";
    await forEachSeed(simSeeds([1, 2]), replay(name), async (seed) => {
      const sim = await start(name, seed);
      const first = await elect(sim);
      const firstToken = status(sim, first)!.token;
      await sim.crash(first);
      const crashedAt = sim.runtime.worldNow;
      let next: string | undefined;
      const took = await runWatched(
        sim,
        () => {
          next = actingLeader(sim);
          return next !== undefined && tablesFollow(sim, up(sim), next);
        },
        30_000,
      );
      expect(took, 'a survivor leads and every survivor routes to it').toBeDefined();
      expect(VOTERS.filter((v) => v !== first)).toContain(next);
      expect(status(sim, next!)!.token).toBeGreaterThan(firstToken);
      // The survivors wait out the crashed leader's lease (< 1 s), then a randomized election
      // timeout (1-2 s), two if the first vote splits; seeds 1-6 take 1.1-1.7 s.
      expect(took!).toBeLessThan(5_000);
      const promoted = sim.hookRuns.find((r) => r.kind === 'promote' && r.node === next)!;
      expect(promoted.at).toBeGreaterThan(crashedAt);
      expectFencedHistory(sim);

      // The old leader restarts from its data dir: it follows, and nothing moves.
      await sim.restart(first);
      expect(
        await runWatched(sim, () => status(sim, first)?.leader === next && tablesFollow(sim, NODES, next!), 30_000),
        'the restarted node follows the new leader',
      ).toBeDefined();
      expect(status(sim, first)!.role).toBe('follower');
      expect(actingLeader(sim)).toBe(next);
      expectFencedHistory(sim);
    });
  });

  it('a partition leaves the leader in a minority: it stops acting, the majority elects; one leader after heal', async () => {
    const name = 'a partition leaves the leader in a minority';
    await forEachSeed(simSeeds([1, 2]), replay(name), async (seed) => {
      const sim = await start(name, seed);
      const old = await elect(sim);
      const oldToken = status(sim, old)!.token;
      const minority = [old, 'n3'];
      const majority = NODES.filter((n) => !minority.includes(n));
      sim.partition([minority, majority]);
      const cutAt = sim.runtime.worldNow;
      let next: string | undefined;
      const took = await runWatched(
        sim,
        () => {
          const a = actors(sim);
          next = a.length === 1 && majority.includes(a[0]!) ? actingLeader(sim) : undefined;
          return next !== undefined && tablesFollow(sim, majority, next);
        },
        30_000,
      );
      expect(took, 'the majority side elects and routes to its leader').toBeDefined();
      expect(status(sim, next!)!.token).toBeGreaterThan(oldToken);
      // The old leader stepped down on its own (its lease ran low with no quorum to renew it),
      // before the new one acted.
      const demoted = sim.hookRuns.find((r) => r.kind === 'demote' && r.node === old && r.at >= cutAt);
      const promoted = sim.hookRuns.find((r) => r.kind === 'promote' && r.node === next && r.at >= cutAt);
      expect(demoted, 'the cut-off leader ran OnDemote').toBeDefined();
      expect(demoted!.at).toBeLessThan(promoted!.at);
      expect(status(sim, old)!.acting).toBe('standby');
      // Its record no longer claims the lead, so its own side stops routing to it.
      for (const n of minority) expect(sim.table(n, GROUP)?.leader?.node).not.toBe(old);

      sim.heal();
      let after: string | undefined;
      expect(
        await runWatched(
          sim,
          () => {
            after = actingLeader(sim);
            return (
              after !== undefined &&
              tablesFollow(sim, NODES, after) &&
              VOTERS.every((v) => status(sim, v)?.leader === after) &&
              VOTERS.filter((v) => status(sim, v)?.role === 'leader').length === 1
            );
          },
          60_000,
        ),
        'healed: one leader, every voter and table agrees',
      ).toBeDefined();
      expect(status(sim, after!)!.token).toBeGreaterThanOrEqual(status(sim, next!)!.token);
      expectFencedHistory(sim);
    });
  });

  it('any node takes writes and a switchover: non-voters forward them to the leader', async () => {
    const name = 'any node takes writes and a switchover';
    await forEachSeed(simSeeds([1, 2]), replay(name), async (seed) => {
      const sim = await start(name, seed);
      const leader = await elect(sim);
      const token = status(sim, leader)!.token;
      const value = new TextEncoder().encode(`v${seed}`);
      // n3 runs no replica: the write goes to the leader's agent over the forward protocol.
      const put = await sim.until(
        sim.agent('n3').elections!.perform(GROUP, { op: 'write', cmd: { op: 'put', key: 'k', value } }, 2_000),
        3_000,
      );
      expect(put).toMatchObject({ status: 200, body: { ok: true } });
      expect(sim.agent('n3').elections!.forwardCounters().forwarded).toBe(1);
      // A follower's linearizable read sees it (a read index from the leader).
      const follower = VOTERS.find((v) => v !== leader)!;
      const read = await sim.until(
        sim.agent(follower).elections!.perform(GROUP, { op: 'read', key: 'k', stale: false }, 2_000),
        3_000,
      );
      expect(read).toMatchObject({ status: 200, body: { Value: Buffer.from(value).toString('base64') } });

      // A switchover asked at a non-voter: the leader stops acting, then hands the lead over.
      const asked = sim.runtime.worldNow;
      const down = await sim.until(
        sim.agent('n4').elections!.perform(GROUP, { op: 'step-down', to: follower }, 2_000),
        3_000,
      );
      expect(down).toMatchObject({ status: 200, body: { steppedDown: true } });
      expect(
        await runWatched(sim, () => actingLeader(sim) === follower && tablesFollow(sim, NODES, follower), 10_000),
        'the chosen follower leads and every table follows',
      ).toBeDefined();
      expect(status(sim, follower)!.token).toBeGreaterThan(token);
      const demoted = sim.hookRuns.find((r) => r.kind === 'demote' && r.node === leader && r.at >= asked);
      const promoted = sim.hookRuns.find((r) => r.kind === 'promote' && r.node === follower)!;
      expect(demoted!.at).toBeLessThanOrEqual(promoted.at);
      expectFencedHistory(sim);
    });
  });

  it('replays exactly: the same seed gives the same election history', async () => {
    const name = 'replays exactly';
    const trace = async (seed: number) => {
      const sim = await start(name, seed);
      const first = await elect(sim);
      await sim.crash(first);
      await sim.run(5_000);
      const out = JSON.stringify({
        hooks: sim.hookRuns,
        statuses: up(sim).map((n) => status(sim, n)),
        sent: sim.network.sent,
      });
      await sim.stop();
      return out;
    };
    const a = await trace(7);
    expect(await trace(7)).toBe(a);
    expect(await trace(8)).not.toBe(a);
  });
});
