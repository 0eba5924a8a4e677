// Membership decides the catalog's connections: pnet keeps other clusters out, peers that leave
// the set are hung up on and gated out, and anti-entropy repairs what gossip missed meanwhile.

import { afterEach, describe, expect, it } from 'vitest';
import type { RecordChange } from '../src/catalog/index.ts';
import { Cluster, fullyConnected, gossipKey, record } from './catalog-harness.ts';
import { waitFor } from './helpers/wait.ts';

const KEY = gossipKey(7);
let cluster = new Cluster();
afterEach(async () => {
  await cluster.stop();
  cluster = new Cluster();
});

describe('catalog connections', { timeout: 60_000 }, () => {
  it('refuses a node with a different cluster key, and one without pnet', async () => {
    const a = await cluster.add('a', { gossipKeys: [KEY] });
    const b = await cluster.add('b', { gossipKeys: [KEY] });
    const x = await cluster.add('x', { gossipKeys: [gossipKey(8)] });
    const dev = await cluster.add('dev', { gossipKeys: undefined });
    expect([a.catalog.privateNetwork, dev.catalog.privateNetwork]).toEqual([true, false]);
    // Everyone's membership view admits everyone: only pnet stands between them.
    cluster.connect();
    await waitFor(() => fullyConnected([a, b]), 'a-b connected', 20_000);
    await a.catalog.publish(record('a', a.peer().peerId, { epoch: 1, seq: 1 }));
    // Both sides keep trying (and failing) to dial the outsiders.
    await waitFor(
      () =>
        x.catalog.stats().dialFailures >= 2 &&
        dev.catalog.stats().dialFailures >= 2 &&
        a.catalog.stats().dialFailures >= 2 &&
        b.catalog.stats().dialFailures >= 2,
      'repeated failed dials',
      30_000,
    );
    expect(x.catalog.connectedPeers()).toEqual([]);
    expect(dev.catalog.connectedPeers()).toEqual([]);
    expect(a.catalog.connectedPeers()).toEqual([b.peer().peerId]);
    expect(b.catalog.connectedPeers()).toEqual([a.peer().peerId]);
    await waitFor(() => b.catalog.get('a')?.seq === 1, 'record within the cluster', 20_000);
    expect(x.catalog.get('a')).toBeUndefined();
    expect(dev.catalog.get('a')).toBeUndefined();
  });

  it('follows a gossip key rotation: dials with the primary key, accepts a dialer using any installed key', async () => {
    const next = gossipKey(9);
    // Mid-rotation: a holds both keys but still encrypts with the old one; b restarted after the
    // rotation and holds only the new one; stale never received the new key.
    const a = await cluster.add('a', { gossipKeys: [KEY, next] });
    const b = await cluster.add('b', { gossipKeys: [next] });
    const stale = await cluster.add('stale', { gossipKeys: [KEY] });
    cluster.connect([a, b]);
    // a's dials (old key) fail at b; b's dials (new key) are accepted by a, which answers under it.
    await waitFor(() => fullyConnected([a, b]), 'a-b connected under the new key', 20_000);

    // The old key is removed: open connections stay, the stale node is shut out.
    a.catalog.setGossipKeys([next]);
    b.catalog.setGossipKeys([next]);
    cluster.connect();
    await waitFor(
      () => stale.catalog.stats().dialFailures >= 2 && b.catalog.stats().dialFailures >= 2,
      'the stale node refused both ways',
      30_000,
    );
    expect(stale.catalog.connectedPeers()).toEqual([]);
    expect(a.catalog.connectedPeers()).toEqual([b.peer().peerId]);
    await a.catalog.publish(record('a', a.peer().peerId, { epoch: 1, seq: 1 }));
    await waitFor(() => b.catalog.get('a')?.seq === 1, 'record across the rotated mesh', 20_000);
    expect(stale.catalog.get('a')).toBeUndefined();
  });

  it('hangs up on a peer that leaves the set, keeps it out, and repairs it by anti-entropy when it returns', async () => {
    // IHAVE gossip off (Dlazy 0, gossipFactor 0): then only anti-entropy can deliver a record that
    // was published while a peer was away, which is what this test is about.
    const gossipsub = { Dlazy: 0, gossipFactor: 0 };
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => cluster.add(n, { gossipKeys: [KEY], gossipsub })));
    cluster.connect();
    await waitFor(() => fullyConnected([a!, b!, c!]), 'full mesh', 20_000);
    const pid = a!.peer().peerId;
    await a!.catalog.publish(record('a', pid, { epoch: 1, seq: 1 }));
    await waitFor(() => c!.catalog.get('a')?.seq === 1, 'c has seq 1', 20_000);

    // Membership on a and b: c is dead. c's own view still lists a and b, so it keeps dialling.
    const cPeer = c!.peer().peerId;
    a!.catalog.setPeers([a!.peer(), b!.peer()]);
    b!.catalog.setPeers([a!.peer(), b!.peer()]);
    await waitFor(
      () => !a!.catalog.connectedPeers().includes(cPeer) && !b!.catalog.connectedPeers().includes(cPeer),
      'hang-up',
      20_000,
    );
    expect(a!.catalog.stats().hangUps + b!.catalog.stats().hangUps).toBeGreaterThanOrEqual(1);
    const dialsBefore = c!.catalog.stats().dials;
    await waitFor(() => c!.catalog.stats().dials >= dialsBefore + 2, 'c redials', 20_000);
    expect(a!.catalog.connectedPeers()).not.toContain(cPeer);
    expect(b!.catalog.connectedPeers()).not.toContain(cPeer);

    // Published while c is away: gossip cannot reach it.
    await a!.catalog.publish(record('a', pid, { epoch: 1, seq: 2 }, 'critical'));
    await waitFor(() => b!.catalog.get('a')?.seq === 2, 'b has seq 2', 20_000);
    expect(c!.catalog.get('a')?.seq).toBe(1);

    // c is alive again: the join sync delivers what it missed.
    const events: RecordChange[] = [];
    c!.catalog.on('record', (e) => events.push(e));
    cluster.connect();
    await waitFor(() => c!.catalog.get('a')?.seq === 2, 'c repaired', 20_000);
    expect(events.find((e) => e.record.node === 'a')).toMatchObject({ source: 'sync', previous: { seq: 1 } });
    expect(c!.catalog.stats().accepted.sync).toBeGreaterThanOrEqual(1);
  });

  it('repairs a lost record on the periodic anti-entropy round', async () => {
    const nodes = await Promise.all(
      ['a', 'b', 'c'].map((n) => cluster.add(n, { gossipKeys: [KEY], syncIntervalMs: 300 })),
    );
    cluster.connect();
    await waitFor(() => fullyConnected(nodes), 'full mesh', 20_000);
    for (const n of nodes) await n.catalog.publish(record(n.name, n.peer().peerId, { epoch: 1, seq: 1 }));
    await waitFor(() => nodes.every((n) => n.catalog.records().length === 3), 'all records', 20_000);
    const c = nodes[2]!;
    const syncedBefore = c.catalog.stats().accepted.sync;
    expect(c.catalog.forget('a')).toBe(true);
    expect(c.catalog.forget('c')).toBe(false); // never its own
    expect(c.catalog.get('a')).toBeUndefined();
    await waitFor(() => c.catalog.get('a')?.seq === 1, 'periodic repair', 20_000);
    expect(c.catalog.stats().accepted.sync).toBeGreaterThan(syncedBefore);
  });

  it('dials the peer set given, and only it: a record from a node membership does not know is dropped', async () => {
    const a = await cluster.add('a', { gossipKeys: [KEY] });
    const b = await cluster.add('b', { gossipKeys: [KEY] });
    const stranger = await cluster.add('stranger', { gossipKeys: [KEY], register: false });
    // b lets the stranger in (its view), a does not know it at all.
    a.catalog.setPeers([a.peer(), b.peer()]);
    b.catalog.setPeers([a.peer(), b.peer(), stranger.peer()]);
    stranger.catalog.setPeers([a.peer(), b.peer(), stranger.peer()]);
    await waitFor(() => fullyConnected([a, b]) && b.catalog.connectedPeers().length === 2, 'connected', 20_000);
    await waitFor(() => stranger.catalog.stats().gossipPeers === 1, 'stranger subscribed via b', 20_000);
    expect(a.catalog.connectedPeers()).toEqual([b.peer().peerId]);
    await stranger.catalog.publish(record('stranger', stranger.peer().peerId, { epoch: 1, seq: 1 }));
    await waitFor(() => b.catalog.stats().rejected['unknown-node'] >= 1, 'unknown node counted', 20_000);
    expect(b.catalog.get('stranger')).toBeUndefined();
    expect(a.catalog.get('stranger')).toBeUndefined();
  });
});
