// Real libp2p and real pnet: a live gossip key rotation never splits the mesh and shuts out a node
// without the new key. (Who is dialled, hung up on and repaired is tested on virtual time in
// catalog-virtual.test.ts.)

import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, fullyConnected, gossipKey, record } from './catalog-harness.ts';
import { waitFor } from './helpers/wait.ts';

const KEY = gossipKey(7);
let cluster = new Cluster();
afterEach(async () => {
  await cluster.stop();
  cluster = new Cluster();
});

describe('catalog connections', { timeout: 60_000 }, () => {
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
});
