// The catalog's decisions on the in-memory transport and virtual time (VirtualCluster): who is
// connected, what is refused, what anti-entropy repairs, and what must NOT happen, checked over
// virtual seconds instead of real sleeps. The libp2p-specific parts (pnet bytes, gossipsub's
// StrictSign, the sync stream against hostile frames) keep their real-libp2p tests.

import { afterEach, describe, expect, it } from 'vitest';
import { CatalogPublishError, type RecordChange } from '../src/catalog/index.ts';
import { fullyConnected, gossipKey, record, type TestNode, VirtualCluster } from './catalog-harness.ts';

const KEY = gossipKey(7);
let cluster = new VirtualCluster();
afterEach(async () => {
  await cluster.stop();
  cluster = new VirtualCluster();
});

describe('catalog on virtual time', () => {
  it('refuses a node with a different cluster key, and one without a key', async () => {
    const a = await cluster.add('a', { gossipKeys: [KEY] });
    const b = await cluster.add('b', { gossipKeys: [KEY] });
    const x = await cluster.add('x', { gossipKeys: [gossipKey(8)] });
    const dev = await cluster.add('dev', { gossipKeys: undefined });
    expect([a.catalog.privateNetwork, dev.catalog.privateNetwork]).toEqual([true, false]);
    cluster.connect();
    await cluster.until(() => fullyConnected([a, b]), 'a-b connected');
    await a.catalog.publish(record('a', a.peer().peerId, { epoch: 1, seq: 1 }));
    // 30 virtual seconds of redials: every one refused, nothing crosses.
    await cluster.run(30_000);
    for (const n of [x, dev, a, b]) expect(n.catalog.stats().dialFailures).toBeGreaterThanOrEqual(2);
    expect(x.catalog.connectedPeers()).toEqual([]);
    expect(dev.catalog.connectedPeers()).toEqual([]);
    expect(a.catalog.connectedPeers()).toEqual([b.peer().peerId]);
    expect(b.catalog.get('a')?.seq).toBe(1);
    expect(x.catalog.get('a')).toBeUndefined();
    expect(dev.catalog.get('a')).toBeUndefined();
  });

  it('hangs up on a peer that leaves the set, keeps it out, and repairs it by anti-entropy when it returns', async () => {
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => cluster.add(n, { gossipKeys: [KEY] })));
    cluster.connect();
    await cluster.until(() => fullyConnected([a!, b!, c!]), 'full mesh');
    const pid = a!.peer().peerId;
    await a!.catalog.publish(record('a', pid, { epoch: 1, seq: 1 }));
    await cluster.until(() => c!.catalog.get('a')?.seq === 1, 'c has seq 1');

    // Membership on a and b: c is dead. c's own view still lists a and b, so it keeps dialling.
    const cPeer = c!.peer().peerId;
    a!.catalog.setPeers([a!.peer(), b!.peer()]);
    b!.catalog.setPeers([a!.peer(), b!.peer()]);
    await cluster.until(
      () => !a!.catalog.connectedPeers().includes(cPeer) && !b!.catalog.connectedPeers().includes(cPeer),
      'hang-up',
    );
    expect(a!.catalog.stats().hangUps + b!.catalog.stats().hangUps).toBeGreaterThanOrEqual(1);
    const dialsBefore = c!.catalog.stats().dials;
    await cluster.run(10_000);
    expect(c!.catalog.stats().dials).toBeGreaterThanOrEqual(dialsBefore + 2);
    expect(a!.catalog.connectedPeers()).not.toContain(cPeer);
    expect(b!.catalog.connectedPeers()).not.toContain(cPeer);

    // Published while c is away: gossip cannot reach it, however long we wait.
    await a!.catalog.publish(record('a', pid, { epoch: 1, seq: 2 }, 'critical'));
    await cluster.until(() => b!.catalog.get('a')?.seq === 2, 'b has seq 2');
    await cluster.run(10_000);
    expect(c!.catalog.get('a')?.seq).toBe(1);

    // c is alive again: the join sync delivers what it missed.
    const events: RecordChange[] = [];
    c!.catalog.on('record', (e) => events.push(e));
    cluster.connect();
    await cluster.until(() => c!.catalog.get('a')?.seq === 2, 'c repaired');
    expect(events.find((e) => e.record.node === 'a')).toMatchObject({ source: 'sync', previous: { seq: 1 } });
    expect(c!.catalog.stats().accepted.sync).toBeGreaterThanOrEqual(1);
  });

  it('repairs a lost record on the periodic anti-entropy round', async () => {
    const nodes = await Promise.all(
      // A fixed pace (no backoff while exchanges agree): the slowed-down pace has its own test.
      ['a', 'b', 'c'].map((n) =>
        cluster.add(n, { gossipKeys: [KEY], syncIntervalMs: 4_000, syncMaxIntervalMs: 4_000 }),
      ),
    );
    cluster.connect();
    await cluster.until(() => fullyConnected(nodes), 'full mesh');
    for (const n of nodes) await n.catalog.publish(record(n.name, n.peer().peerId, { epoch: 1, seq: 1 }));
    await cluster.until(() => nodes.every((n) => n.catalog.records().length === 3), 'all records');
    await cluster.run(5_000); // past the join syncs
    const c = nodes[2]!;
    const syncedBefore = c.catalog.stats().accepted.sync;
    expect(c.catalog.forget('a')).toBe(true);
    expect(c.catalog.forget('c')).toBe(false); // never its own
    expect(c.catalog.get('a')).toBeUndefined();
    // Rounds are 3-5 s apart (±25 %): the repair comes from one, within two intervals.
    const took = await cluster.until(() => c.catalog.get('a')?.seq === 1, 'periodic repair', 10_000);
    expect(took).toBeGreaterThan(0);
    expect(c.catalog.stats().accepted.sync).toBeGreaterThan(syncedBefore);
  });

  it('slows anti-entropy down while every exchange agrees, and returns to the base pace at a change', async () => {
    const base = 4_000;
    const ceiling = 32_000;
    const nodes = await Promise.all(
      ['a', 'b', 'c'].map((n) =>
        cluster.add(n, { gossipKeys: [KEY], syncIntervalMs: base, syncMaxIntervalMs: ceiling }),
      ),
    );
    const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
    cluster.connect();
    await cluster.until(() => fullyConnected(nodes), 'full mesh');
    for (const n of nodes) await n.catalog.publish(record(n.name, n.peer().peerId, { epoch: 1, seq: 1 }));
    await cluster.until(() => nodes.every((n) => n.catalog.records().length === 3), 'all records');
    const runs = () => nodes.map((n) => n.catalog.stats().syncRuns);
    const since = (before: number[]) => runs().map((r, i) => r - before[i]!);

    // 4 + 8 + 16 s, then 32 s (±25 %): past the first ~30 s each agent starts at most one exchange
    // per 24 s. At the base pace it would be one per 3-5 s.
    await cluster.run(60_000);
    let before = runs();
    await cluster.run(120_000);
    for (const n of since(before)) {
      expect(n).toBeGreaterThanOrEqual(1);
      expect(n).toBeLessThanOrEqual(6);
    }

    // A publish (gossip accepted everywhere): every agent is back at the base pace at once.
    before = runs();
    await a.catalog.publish(record('a', a.peer().peerId, { epoch: 1, seq: 2 }));
    await cluster.run(base * 1.25 + 100);
    for (const n of since(before)) expect(n).toBeGreaterThanOrEqual(1);

    // Slow again, then a member leaves the set: back to the base pace too.
    await cluster.run(120_000);
    before = runs();
    await cluster.run(20_000);
    expect(Math.max(...since(before))).toBeLessThanOrEqual(1);
    before = runs();
    cluster.connect([a, b]);
    await cluster.run(base * 1.25 + 100);
    expect(
      since(before)
        .slice(0, 2)
        .every((n) => n >= 1),
    ).toBe(true);
    expect(c.catalog.get('a')?.seq).toBe(2);
  });

  it('repairs a record gossip missed within ceiling x 1.25, even at the slowest pace', async () => {
    const ceiling = 32_000;
    const nodes = await Promise.all(
      ['a', 'b', 'c'].map((n) =>
        cluster.add(n, { gossipKeys: [KEY], syncIntervalMs: 4_000, syncMaxIntervalMs: ceiling }),
      ),
    );
    cluster.connect();
    await cluster.until(() => fullyConnected(nodes), 'full mesh');
    for (const n of nodes) await n.catalog.publish(record(n.name, n.peer().peerId, { epoch: 1, seq: 1 }));
    await cluster.until(() => nodes.every((n) => n.catalog.records().length === 3), 'all records');
    await cluster.run(150_000); // every agent at the ceiling
    // c loses a's record with no change anywhere to speed anyone up: only the slow timers repair it.
    const c = nodes[2]!;
    expect(c.catalog.forget('a')).toBe(true);
    const took = await cluster.until(() => c.catalog.get('a')?.seq === 1, 'repair at the slowest pace', ceiling * 1.25);
    expect(took).toBeGreaterThan(0);
  });

  it('dials the peer set given, and only it: a record from a node membership does not know is dropped', async () => {
    const a = await cluster.add('a', { gossipKeys: [KEY] });
    const b = await cluster.add('b', { gossipKeys: [KEY] });
    const stranger = await cluster.add('stranger', { gossipKeys: [KEY], register: false });
    a.catalog.setPeers([a.peer(), b.peer()]);
    b.catalog.setPeers([a.peer(), b.peer(), stranger.peer()]);
    stranger.catalog.setPeers([a.peer(), b.peer(), stranger.peer()]);
    await cluster.until(() => fullyConnected([a, b]) && b.catalog.connectedPeers().length === 2, 'connected');
    await cluster.until(() => stranger.catalog.stats().gossipPeers === 1, 'stranger subscribed via b');
    await stranger.catalog.publish(record('stranger', stranger.peer().peerId, { epoch: 1, seq: 1 }));
    await cluster.until(() => b.catalog.stats().rejected['unknown-node'] >= 1, 'unknown node counted');
    await cluster.run(10_000);
    expect(a.catalog.connectedPeers()).toEqual([b.peer().peerId]);
    expect(b.catalog.get('stranger')).toBeUndefined();
    expect(a.catalog.get('stranger')).toBeUndefined();
  });

  it('keeps the newest record: an older one cannot overwrite it, a restart (newer epoch) does', async () => {
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => cluster.add(n, { gossipKeys: [KEY] })));
    cluster.connect();
    await cluster.until(() => [a!, b!, c!].every((n) => n.catalog.stats().gossipPeers === 2), 'subscriptions');
    const pid = a!.peer().peerId;
    await a!.catalog.publish(record('a', pid, { epoch: 100, seq: 1 }));
    await a!.catalog.publish(record('a', pid, { epoch: 100, seq: 2 }, 'critical'));
    await cluster.until(() => b!.catalog.get('a')?.seq === 2 && c!.catalog.get('a')?.seq === 2, 'seq 2');
    await expect(a!.catalog.publish(record('a', pid, { epoch: 100, seq: 1 }))).rejects.toThrow(CatalogPublishError);
    await expect(a!.catalog.publish(record('a', pid, { epoch: 99, seq: 50 }))).rejects.toThrow(/not newer/);

    // "a" restarts with a stale view of itself and re-announces an old version: b and c keep (100, 2).
    await a!.catalog.stop();
    cluster.nodes.splice(cluster.nodes.indexOf(a!), 1);
    const a2 = await cluster.add('a', { gossipKeys: [KEY], key: a!.key });
    cluster.connect([a2, b!, c!]);
    await cluster.until(() => fullyConnected([a2, b!, c!]) && a2.catalog.stats().gossipPeers === 2, 'a2 connected');
    const staleBefore = b!.catalog.stats().stale + c!.catalog.stats().stale;
    await a2.catalog.publish(record('a', pid, { epoch: 100, seq: 1 }, 'warning'));
    await cluster.until(
      () => b!.catalog.stats().stale + c!.catalog.stats().stale > staleBefore,
      'stale record counted',
    );
    await cluster.run(5_000);
    expect(b!.catalog.get('a')).toMatchObject({ epoch: 100, seq: 2 });
    expect(c!.catalog.get('a')).toMatchObject({ epoch: 100, seq: 2 });

    // A newer boot epoch wins whatever its seq.
    await a2.catalog.publish(record('a', pid, { epoch: 200, seq: 0 }));
    await cluster.until(
      () => [b!, c!].every((n) => n.catalog.get('a')?.epoch === 200 && n.catalog.get('a')?.seq === 0),
      'epoch 200',
    );
  });

  it('gives up an anti-entropy exchange across a partition after syncTimeoutMs of virtual time', async () => {
    const [a, b] = await Promise.all(['a', 'b'].map((n) => cluster.add(n, { syncTimeoutMs: 3_000 })));
    cluster.connect();
    await cluster.until(() => fullyConnected([a!, b!]), 'connected');
    await cluster.run(1_000); // the join sync is done
    cluster.network.partition([[a!.peer().peerId], [b!.peer().peerId]]);
    const failuresBefore = a!.catalog.stats().syncFailures;
    const started = cluster.runtime.worldNow;
    let settledAt: number | undefined;
    a!.catalog.syncWith(b!.peer().peerId).catch(() => {
      settledAt = cluster.runtime.worldNow;
    });
    await cluster.run(2_900);
    expect(settledAt).toBeUndefined();
    await cluster.until(() => settledAt !== undefined, 'the exchange times out', 1_000);
    expect(settledAt! - started).toBeGreaterThanOrEqual(3_000);
    expect(a!.catalog.stats().syncFailures).toBe(failuresBefore + 1);
  });

  it('opinion updates cross at once and read on top of the record; a lost one is repaired by the record', async () => {
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => cluster.add(n, { gossipKeys: [KEY] })));
    cluster.connect();
    await cluster.until(() => fullyConnected([a!, b!, c!]), 'full mesh');
    const pid = a!.peer().peerId;
    await a!.catalog.publish(record('a', pid, { epoch: 1, seq: 1 }));
    await cluster.until(() => b!.catalog.get('a')?.seq === 1 && c!.catalog.get('a')?.seq === 1, 'record');
    const failing = {
      node: 'b',
      id: 'web-b',
      service: 'web',
      ...{ ok: 0, refused: 0, timeout: 0, http5xx: 3, other: 0, latencyMs: 2 },
      transitions: [{ at: 1_000, state: 'failing' as const }],
    };
    const seen: string[] = [];
    b!.catalog.on('opinions', (node) => seen.push(node));
    // c misses the update: it is cut off while it crosses.
    cluster.network.partition([[a!.peer().peerId, b!.peer().peerId], [c!.peer().peerId]]);
    await a!.catalog.publishOpinions({ epoch: 1, seq: 2, opinions: [failing] });
    await cluster.run(100);
    expect(seen).toEqual(['a']);
    expect(b!.catalog.get('a')?.seq).toBe(1); // the record is unchanged ...
    expect(b!.catalog.get('a')?.opinions).toEqual([failing]); // ... and reads with the update
    expect(a!.catalog.get('a')?.opinions).toEqual([failing]); // our own, at once
    expect(c!.catalog.get('a')?.opinions).toBeUndefined();
    expect(b!.catalog.stats().opinionUpdates).toMatchObject({ accepted: 1, pending: 1 });
    // The record that follows carries it: c gets it by anti-entropy after the partition heals.
    await a!.catalog.publish({ ...record('a', pid, { epoch: 1, seq: 3 }), opinions: [failing] });
    cluster.network.heal();
    await cluster.until(() => c!.catalog.get('a')?.seq === 3, 'repaired by the record', 60_000);
    expect(c!.catalog.get('a')?.opinions).toEqual([failing]);
    expect(b!.catalog.stats().opinionUpdates.pending).toBe(0);
  });

  for (const starved of [true, false]) {
    it(`${starved ? 'trickles its dials while its own loop is starved' : 'dials at once on a quiet loop'}, and counts held decisions`, async () => {
      // Contention as membership's meter reports it: 80 % (starved) or 10 % of every window.
      const share = starved ? 0.8 : 0.1;
      const a = await cluster.add('a', {
        gossipKeys: [KEY],
        loopContention: () => share * cluster.runtime.worldNow,
      });
      // The others dial no one (degree 0): every connection is one of a's dials.
      const others = await Promise.all(
        ['b', 'c', 'd', 'e'].map((n) => cluster.add(n, { gossipKeys: [KEY], dialDegree: 0 })),
      );
      cluster.connect();
      const opened: number[] = [];
      const start = cluster.runtime.worldNow;
      while (opened.length < others.length && cluster.runtime.worldNow - start < 30_000) {
        await cluster.run(10);
        while (a.catalog.connectedPeers().length > opened.length) opened.push(cluster.runtime.worldNow - start);
      }
      expect(opened).toHaveLength(others.length);
      const gaps = opened.slice(1).map((t, i) => t - opened[i]!);
      if (starved) {
        // One at a time, each start at least half the 3 s trickle after the last (×0.5-1.5 jitter).
        for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(1_490);
        expect(a.catalog.stats().dialHolds).toBeGreaterThanOrEqual(3);
      } else {
        // The 1 s settle and one measured window, then all four at once.
        expect(opened.at(-1)).toBeLessThan(2_000);
        expect(a.catalog.stats().dialHolds).toBe(0);
      }
    });
  }
});
