// Agents skip identify and assume a peer speaks their protocols (own-protocols.ts). An older agent
// still identifies on connect: during a rolling upgrade the two must still gossip to each other in
// both directions, whichever side dials. Real libp2p nodes over loopback TCP with pnet.

import { generateKeyPair } from '@libp2p/crypto/keys';
import { gossipsub } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { afterEach, describe, expect, it } from 'vitest';
import type { CatalogTransport } from '../src/catalog/catalog-transport.ts';
import { CATALOG_TOPIC, catalogGossipsubOptions } from '../src/catalog/gossip-config.ts';
import { startLibp2pTransport } from '../src/catalog/libp2p-transport.ts';
import { gossipKey, rawLibp2p } from './catalog-harness.ts';
import { waitFor } from './helpers/wait.ts';

const KEY = gossipKey(9);
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

/** An agent's transport, recording whose subscriptions and gossip reached it. */
async function agent() {
  const subscribed = new Set<string>();
  const heard: string[] = [];
  const t: CatalogTransport = await startLibp2pTransport(
    {
      privateKey: await generateKeyPair('Ed25519'),
      listen: { host: '127.0.0.1', port: 0 },
      gossipKeys: [KEY],
      dialTimeoutMs: 5_000,
    },
    {
      isAllowed: () => true,
      onGossip: async (data) => {
        heard.push(new TextDecoder().decode(data));
        return 'accept';
      },
      onConnect: () => {},
      onDisconnect: () => {},
      onSubscribed: (p) => subscribed.add(p),
      onSyncStream: (s) => s.abort(new Error('not in this test')),
    },
  );
  stops.push(() => t.stop());
  return { t, subscribed, heard };
}

/** An agent of the previous release: stock identify (runs on every connection) and gossipsub. */
async function olderAgent() {
  const older = await rawLibp2p(KEY, { identify: identify(), pubsub: gossipsub(catalogGossipsubOptions()) });
  stops.push(async () => {
    await older.node.stop();
  });
  older.node.services.pubsub.subscribe(CATALOG_TOPIC);
  return older;
}

describe('catalog peers without identify', { timeout: 30_000 }, () => {
  for (const dialer of ['agent', 'older agent'] as const) {
    it(`gossips both ways with an older agent that identifies (${dialer} dials)`, async () => {
      const a = await agent();
      const old = await olderAgent();
      if (dialer === 'agent') {
        const port = old.node.getMultiaddrs()[0]?.toString().split('/tcp/')[1]?.split('/')[0];
        await a.t.dial(a.t.resolve(`127.0.0.1:${port}`, old.peerId), AbortSignal.timeout(5_000));
      } else {
        await old.node.dial(multiaddr(`/ip4/127.0.0.1/tcp/${a.t.listenPort()}/p2p/${a.t.peerId}`));
      }
      const agentPeer = peerIdFromString(a.t.peerId);
      await waitFor(
        () =>
          a.subscribed.has(old.peerId) &&
          old.node.services.pubsub.getSubscribers(CATALOG_TOPIC).some((p) => p.equals(agentPeer)),
        'subscriptions both ways',
      );
      // The older agent's identify of us was answered: it knows our protocols from it.
      expect((await old.node.peerStore.get(agentPeer)).protocols).toContain('/meshsub/1.1.0');

      const seen = new Set<string>();
      old.node.services.pubsub.addEventListener('message', (e) => {
        seen.add(new TextDecoder().decode(e.detail.data));
      });
      // floodPublish sends to every subscriber, so once the subscriptions are in, one publish each
      // reaches the other side without waiting for the mesh.
      await a.t.publish('records', new TextEncoder().encode('from-agent'));
      await old.node.services.pubsub.publish(CATALOG_TOPIC, new TextEncoder().encode('from-older'));
      await waitFor(() => seen.has('from-agent') && a.heard.includes('from-older'), 'gossip both ways');
    });
  }
});
