// Dissemination between real libp2p nodes on 127.0.0.1: publish reaches everyone, newest wins,
// a record from the wrong signer is rejected and counted.

import { afterEach, describe, expect, it } from 'vitest';
import type { RecordChange } from '../src/catalog/index.ts';
import { Cluster, capturingLog, fullyConnected, gossipKey, record } from './catalog-harness.ts';
import { waitFor } from './helpers/wait.ts';

const KEY = gossipKey(7);
let cluster = new Cluster();
afterEach(async () => {
  await cluster.stop();
  cluster = new Cluster();
});

describe('catalog gossip', { timeout: 60_000 }, () => {
  it('delivers a published record, and each health flip, to all 5 nodes', async () => {
    const nodes = await Promise.all(['n0', 'n1', 'n2', 'n3', 'n4'].map((n) => cluster.add(n, { gossipKeys: [KEY] })));
    cluster.connect();
    await waitFor(() => fullyConnected(nodes), 'full mesh', 20_000);
    await waitFor(() => nodes.every((n) => n.catalog.stats().gossipPeers === 4), 'topic subscriptions', 20_000);

    const events: RecordChange[] = [];
    nodes[3]!.catalog.on('record', (e) => events.push(e));
    const author = nodes[0]!;
    const pid = author.peer().peerId;
    await author.catalog.publish(record('n0', pid, { epoch: 100, seq: 1 }));
    await waitFor(() => nodes.every((n) => n.catalog.get('n0')?.seq === 1), 'record everywhere', 20_000);

    for (let seq = 2; seq <= 6; seq++) {
      const health = seq % 2 === 0 ? 'critical' : 'passing';
      await author.catalog.publish(record('n0', pid, { epoch: 100, seq }, health));
      await waitFor(
        () =>
          nodes.every((n) => n.catalog.get('n0')?.seq === seq && n.catalog.get('n0')?.instances[0]?.health === health),
        `flip ${seq} everywhere`,
        20_000,
      );
    }
    expect(events.map((e) => e.record.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(events[1]).toMatchObject({ previous: { seq: 1 } });
    expect(events.every((e) => e.source === 'gossip' || e.source === 'sync')).toBe(true);
    // the author saw its own record as local
    expect(author.catalog.get('n0')?.seq).toBe(6);
    expect(nodes.slice(1).every((n) => n.catalog.stats().accepted.gossip + n.catalog.stats().accepted.sync >= 6)).toBe(
      true,
    );
    for (const n of nodes) expect(Object.values(n.catalog.stats().rejected).every((v) => v === 0)).toBe(true);
  });

  it('rejects, counts and logs a record published by a peer other than the one membership holds', async () => {
    const { log, lines } = capturingLog();
    const honest = await cluster.add('web-1', { gossipKeys: [KEY] });
    const watcher = await cluster.add('watcher', { gossipKeys: [KEY], log });
    // Mallory is a member under her own name, but her agent claims to be "web-1".
    const mallory = await cluster.add('web-1', { gossipKeys: [KEY], register: false });
    cluster.directory.set('mallory', mallory.peer().peerId);
    const peers = [honest.peer(), watcher.peer(), { ...mallory.peer(), node: 'mallory' }];
    for (const n of [honest, watcher, mallory]) n.catalog.setPeers(peers);
    await waitFor(() => [honest, watcher, mallory].every((n) => n.catalog.stats().gossipPeers === 2), 'subs', 20_000);

    await honest.catalog.publish(record('web-1', honest.peer().peerId, { epoch: 1, seq: 1 }));
    await waitFor(() => watcher.catalog.get('web-1')?.seq === 1, 'honest record', 20_000);
    // Mallory's forged record is newer, carries her own (valid) signature, and names her peer id.
    await mallory.catalog.publish(record('web-1', mallory.peer().peerId, { epoch: 1, seq: 99 }, 'critical'));
    await waitFor(() => watcher.catalog.stats().rejected['wrong-signer'] >= 1, 'rejection counted', 20_000);
    expect(watcher.catalog.get('web-1')).toMatchObject({ peerId: honest.peer().peerId, seq: 1 });
    expect(honest.catalog.get('web-1')).toMatchObject({ peerId: honest.peer().peerId, seq: 1 });
    const warning = lines.find((l) => typeof l.msg === 'string' && l.msg.includes('record rejected'));
    expect(warning).toMatchObject({ reason: 'wrong-signer', from: mallory.peer().peerId, level: 40 });

    // Anti-entropy runs the same check: Mallory's store offers the forgery, the watcher refuses it.
    const before = watcher.catalog.stats().rejected['wrong-signer'];
    await watcher.catalog.syncWith(mallory.peer().peerId);
    expect(watcher.catalog.stats().rejected['wrong-signer']).toBeGreaterThan(before);
    expect(watcher.catalog.get('web-1')).toMatchObject({ peerId: honest.peer().peerId, seq: 1 });
  });
});
