// Real libp2p: an idle catalog connection stays open. libp2p closes a TCP socket after an
// inactivity timeout that by default equals our yamux keep-alive: a socket whose only traffic is
// its own side's pings then times out just before the next ping (one side's view of a connection
// whose two pingers run in phase). Scaled down: a 2 s keep-alive on one side (a stall of up to 1 s
// still lands its ping in time on a loaded machine), none to speak of on
// the other, so that the other side's pings cannot keep the socket busy.

import { generateKeyPair } from '@libp2p/crypto/keys';
import { afterEach, describe, expect, it } from 'vitest';
import type { CatalogTransport, TransportHandlers } from '../src/catalog/catalog-transport.ts';
import { startLibp2pTransport } from '../src/catalog/libp2p-transport.ts';
import { gossipKey } from './catalog-harness.ts';
import { waitFor } from './helpers/wait.ts';

const KEEP_ALIVE_MS = 2_000;
const SILENT_MS = 60_000;
const started: CatalogTransport[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((t) => t.stop()));
});

async function transport(disconnects: string[], keepAliveMs: number): Promise<CatalogTransport> {
  const handlers: TransportHandlers = {
    isAllowed: () => true,
    onGossip: async () => 'ignore',
    onConnect: () => {},
    onDisconnect: (peer) => disconnects.push(peer),
    onSubscribed: () => {},
    onSyncStream: () => {},
  };
  const t = await startLibp2pTransport(
    {
      privateKey: await generateKeyPair('Ed25519'),
      listen: { host: '127.0.0.1', port: 0 },
      gossipKeys: [gossipKey(5)],
      dialTimeoutMs: 5_000,
      keepAliveMs,
    },
    handlers,
  );
  started.push(t);
  return t;
}

describe('catalog keep-alive', { timeout: 20_000 }, () => {
  it('keeps an idle connection open for many keep-alive periods', async () => {
    const disconnects: string[] = [];
    const a = await transport(disconnects, KEEP_ALIVE_MS);
    const b = await transport(disconnects, SILENT_MS);
    await a.dial(a.resolve(`127.0.0.1:${b.listenPort()}`, b.peerId), AbortSignal.timeout(5_000));
    await waitFor(() => b.connectedPeers().includes(a.peerId), 'b sees the connection');

    // Nothing is published: after the subscriptions and the mesh GRAFTs only pings cross it.
    await new Promise((r) => setTimeout(r, 4 * KEEP_ALIVE_MS));
    expect(disconnects).toEqual([]);
    expect(a.connectedPeers()).toEqual([b.peerId]);
    expect(b.connectedPeers()).toEqual([a.peerId]);
  });
});
