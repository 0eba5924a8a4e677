// Agents skip identify and assume a peer speaks their protocols (own-protocols.ts). An older agent
// still identifies on connect: during a rolling upgrade the two must still gossip to each other in
// both directions, whichever side dials. And a peer whose connection closed is forgotten by
// gossipsub even when no gossipsub stream was ever negotiated on it, and gossip keeps flowing both
// ways when one of a peer's two connections closes. Real libp2p nodes over loopback TCP with pnet.

import { generateKeyPair } from '@libp2p/crypto/keys';
import { gossipsub } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { afterEach, describe, expect, it } from 'vitest';
import type { CatalogTransport } from '../src/catalog/catalog-transport.ts';
import { CATALOG_TOPIC, catalogGossipsubOptions } from '../src/catalog/gossip-config.ts';
import { startLibp2pTransport } from '../src/catalog/libp2p-transport.ts';
import { ownProtocols } from '../src/catalog/own-protocols.ts';
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

/** A node built as the agent builds its own (identify only answers), subscribed to the catalog. */
async function ownNode() {
  const n = await rawLibp2p(KEY, {
    identify: identify({ runOnConnectionOpen: false }),
    ownProtocols: ownProtocols(),
    pubsub: gossipsub(catalogGossipsubOptions()),
  });
  stops.push(async () => {
    await n.node.stop();
  });
  n.node.services.pubsub.subscribe(CATALOG_TOPIC);
  return n;
}

describe('catalog peers without identify', { timeout: 30_000 }, () => {
  for (const dialer of ['agent', 'older agent'] as const) {
    it(`gossips both ways with an older agent that identifies (${dialer} dials)`, async () => {
      const a = await agent();
      const old = await olderAgent();
      if (dialer === 'agent') {
        const addr = old.node.getMultiaddrs()[0]!.toString();
        await a.t.dial(a.t.resolve(addr, old.peerId), AbortSignal.timeout(5_000));
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
      // The older agent's identify of us was answered: it knows our protocols from it. (Negotiating
      // a stream records only the version agreed, /meshsub/1.2.0; 1.1.0 can come only from identify.)
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

  it('forgets a peer whose connection closed before any gossipsub stream was negotiated', async () => {
    // a hangs up on every peer the moment it connects, as the catalog does with a peer membership
    // no longer allows.
    const a = await ownNode();
    const b = await ownNode();
    let refused = 0;
    a.node.addEventListener('peer:connect', (e) => {
      refused++;
      void a.node.hangUp(e.detail);
    });
    await b.node.dial(a.node.getMultiaddrs()).catch(() => {});
    await waitFor(
      () => refused >= 1 && a.node.getConnections().length + b.node.getConnections().length === 0,
      'hang-up',
    );
    await waitFor(
      () => a.node.services.pubsub.getPeers().length + b.node.services.pubsub.getPeers().length === 0,
      'gossipsub forgets the peer on both sides',
      3_000,
    );
  });

  it('keeps gossiping both ways when the connection carrying a gossipsub stream closes and another stays', async () => {
    // Both sides dialled (a simultaneous dial), so each peer has two connections; one closes and
    // gossipsub drops the outbound stream it carried. It must open one on the connection left,
    // which it does only when told of a connection, not when one of several closes.
    const a = await ownNode();
    const b = await ownNode();
    const heard = { a: new Set<string>(), b: new Set<string>() };
    for (const [name, n] of [
      ['a', a],
      ['b', b],
    ] as const) {
      n.node.services.pubsub.addEventListener('message', (e) =>
        heard[name].add(new TextDecoder().decode(e.detail.data)),
      );
    }
    await a.node.dial(b.node.getMultiaddrs());
    await b.node.dial(a.node.getMultiaddrs(), { force: true });
    const outboundGossip = (c: { streams: { direction: string; protocol?: string }[] }) =>
      c.streams.some((s) => s.direction === 'outbound' && s.protocol?.startsWith('/meshsub/') === true);
    await waitFor(
      () =>
        a.node.getConnections().length === 2 &&
        b.node.getConnections().length === 2 &&
        a.node.getConnections().some(outboundGossip) &&
        b.node.getConnections().some(outboundGossip),
      'two connections, a gossipsub stream out of each side',
    );
    // a closes the connection its own outbound gossipsub stream runs on; the other one stays.
    await a.node.getConnections().find(outboundGossip)!.close();
    await waitFor(
      () => a.node.getConnections().length === 1 && b.node.getConnections().length === 1,
      'one connection left',
    );
    let round = 0;
    await waitFor(async () => {
      round++;
      await a.node.services.pubsub.publish(CATALOG_TOPIC, new TextEncoder().encode(`from-a-${round}`));
      await b.node.services.pubsub.publish(CATALOG_TOPIC, new TextEncoder().encode(`from-b-${round}`));
      await new Promise((r) => setTimeout(r, 100));
      return heard.b.has(`from-a-${round}`) && heard.a.has(`from-b-${round}`);
    }, 'gossip both ways over the connection left');
  });
});
