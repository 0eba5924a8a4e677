// Whole MembershipServices over the in-memory gossip network in virtual time (sim/membership-
// cluster.ts): the real service, engine, codec and encryption, with only the sockets swapped.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { MembershipCluster } from '../src/sim/membership-cluster.ts';
import { forEachSeed, replayCommand, simSeeds } from '../src/sim/node-sim.ts';

const FILE = 'test/membership-sim-service.test.ts';
const clusters: MembershipCluster[] = [];
afterEach(async () => {
  await Promise.all(clusters.splice(0).map((c) => c.stop()));
});

async function start(seed: number, nodes: number): Promise<MembershipCluster> {
  const cluster = await MembershipCluster.start({ seed, nodes, keys: [new Uint8Array(32).fill(7)] });
  clusters.push(cluster);
  return cluster;
}

/** One run: join, crash n2, and what n0 saw, stamped with virtual time. */
async function crashRun(seed: number): Promise<string[]> {
  const cluster = await start(seed, 4);
  const seen: string[] = [];
  const n0 = cluster.node('n0').service;
  n0.on('event', (e) => seen.push(`${cluster.runtime.worldNow} ${e.type} ${e.member.name}`));
  const allAlive = () =>
    cluster.nodes.every((n) => n.service.members().filter((m) => m.status === 'alive').length === 4);
  expect(await cluster.runUntil(allAlive, 5_000)).toBe(true);

  await cluster.node('n2').service.stop(); // a crash: no leave, the port just goes quiet
  const crashedAt = cluster.runtime.worldNow;
  const deadEverywhere = () => ['n0', 'n1', 'n3'].every((n) => cluster.node(n).service.member('n2')?.status === 'dead');
  expect(await cluster.runUntil(deadEverywhere, 30_000)).toBe(true);
  seen.push(`detected after ${cluster.runtime.worldNow - crashedAt} ms`);
  // Nobody else was accused on the way.
  for (const n of ['n0', 'n1', 'n3']) {
    const others = cluster
      .node(n)
      .service.members()
      .filter((m) => m.name !== 'n2');
    expect(others.map((m) => m.status)).toEqual(['alive', 'alive', 'alive']);
  }
  // The snapshot on disk lists the members still alive.
  await cluster.run(6_000);
  expect((await cluster.node('n0').dataDir.readMembers()).members.map((m) => m.name).sort()).toEqual(['n1', 'n3']);
  return seen;
}

describe('MembershipService in virtual time', () => {
  it('joins, detects a crash, and replays exactly from its seed', async () => {
    await forEachSeed(
      simSeeds([11, 12]),
      (seed) => replayCommand(FILE, 'replays exactly', seed),
      async (seed) => {
        const first = await crashRun(seed);
        await Promise.all(clusters.splice(0).map((c) => c.stop()));
        expect(await crashRun(seed)).toEqual(first);
      },
    );
  });

  it('splits under a partition and merges again once it heals', () =>
    forEachSeed(
      simSeeds([13, 14]),
      (seed) => replayCommand(FILE, 'merges again', seed),
      async (seed) => {
        const cluster = await start(seed, 4);
        const statusOf = (viewer: string, of: string) => cluster.node(viewer).service.member(of)?.status;
        const everyoneSeesAll = (status: string) => () =>
          cluster.nodes.every((v) => cluster.nodes.every((o) => statusOf(v.name, o.name) === status));
        expect(await cluster.runUntil(everyoneSeesAll('alive'), 5_000)).toBe(true);

        const [a, b] = [
          ['n0', 'n1'],
          ['n2', 'n3'],
        ];
        cluster.network.partition([a!.map((n) => cluster.node(n).address), b!.map((n) => cluster.node(n).address)]);
        const split = () =>
          a!.every((x) => b!.every((y) => statusOf(x, y) === 'dead' && statusOf(y, x) === 'dead')) &&
          a!.every((x) => a!.every((y) => statusOf(x, y) === 'alive')) &&
          b!.every((x) => b!.every((y) => statusOf(x, y) === 'alive'));
        expect(await cluster.runUntil(split, 30_000)).toBe(true);

        cluster.network.heal();
        // Nobody re-joins by hand: the engines' reconnect (every 30 s, as Serf's) finds the other side.
        expect(await cluster.runUntil(everyoneSeesAll('alive'), 120_000)).toBe(true);
      },
    ));

  it('wakes only when the engine has work due: not at the timeout of a probe already acked', async () => {
    const cluster = await start(21, 3);
    const allAlive = () =>
      cluster.nodes.every((n) => n.service.members().filter((m) => m.status === 'alive').length === 3);
    expect(await cluster.runUntil(allAlive, 5_000)).toBe(true);
    await cluster.run(30_000); // the joins' news has run out of retransmits: idle
    const service = cluster.node('n0').service;
    // biome-ignore lint/complexity/useLiteralKeys: the engine is private; the test watches its wake-ups.
    const engine = service['engine'];
    const idle: number[] = [];
    const handleTimeout = engine.handleTimeout.bind(engine);
    vi.spyOn(engine, 'handleTimeout').mockImplementation((now) => {
      if ((engine.nextTimeout() ?? Number.POSITIVE_INFINITY) > now) idle.push(now);
      handleTimeout(now);
    });
    await cluster.run(10_000);
    expect(engine.handleTimeout).toHaveBeenCalled();
    expect(idle, 'wake-ups with nothing due').toEqual([]);
  });

  it('keeps retrying the start-up join, backing off, until a seed answers', () =>
    forEachSeed(
      simSeeds([15]),
      (seed) => replayCommand(FILE, 'start-up join', seed),
      async (seed) => {
        const cluster = await start(seed, 2);
        const seedAddr = cluster.node('n0').address;
        const late = await cluster.add('late', [new Uint8Array(32).fill(7)]);
        cluster.network.partition([[late.address], [seedAddr, cluster.node('n1').address]]);
        const startedAt = cluster.runtime.worldNow;
        const first = await cluster.until(late.service.startupJoin([seedAddr]), 5_000);
        expect(first.joined).toBe(0);
        expect(first.errors[0]).toMatch(/timed out/);
        // Each attempt waits out a 1 s dial timeout, then backs off 1, 2, 4 s: attempts at about
        // 0, 2, 5 and 10 s. The heal at about 6 s is found by the attempt at 10 s.
        await cluster.run(5_000);
        expect(late.service.members().map((m) => m.name)).toEqual(['late']);
        cluster.network.heal();
        const joined = () =>
          cluster.nodes.every((n) => n.service.members().filter((m) => m.status === 'alive').length === 3);
        expect(await cluster.runUntil(joined, 15_000)).toBe(true);
        const tookMs = cluster.runtime.worldNow - startedAt;
        expect(tookMs).toBeGreaterThan(9_500); // not retrying every second
        expect(tookMs).toBeLessThan(12_000);
      },
    ));
});
