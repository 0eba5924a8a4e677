// CPU of one catalog connection, both sides together: agent A dials agent B (TCP, pnet, Noise,
// Yamux), both see the other's gossipsub subscription, then both hang up. Two agents in this
// process, so the figure is process CPU (user + system) per connection. The figure behind the
// "No identify" paragraph of packages/agent/src/catalog/README.md.
//
//   npm run bench:connection -w scripts -- [--connections 200] [--rounds 3]
//
// Each round measures the shipped transport, then the same transport with identify run on every
// connection as stock libp2p does (the transport's `identifyOnConnect` option), so the two figures
// come from one process on one host state.

import { parseArgs } from 'node:util';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { startLibp2pTransport } from '../../packages/agent/src/catalog/libp2p-transport.ts';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
  },
});
const K = Number(values.connections);
const ROUNDS = Number(values.rounds);
if (!Number.isInteger(K) || K < 1 || K > 5000) throw new Error('--connections: an integer 1-5000');
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 20) throw new Error('--rounds: an integer 1-20');

const KEY = new Uint8Array(32).fill(7);

async function agent(identifyOnConnect: boolean) {
  let subscribed: (peer: string) => void = () => {};
  const t = await startLibp2pTransport(
    {
      privateKey: await generateKeyPair('Ed25519'),
      listen: { host: '127.0.0.1', port: 0 },
      gossipKeys: [KEY],
      dialTimeoutMs: 5_000,
      identifyOnConnect,
    },
    {
      isAllowed: () => true,
      onGossip: async () => 'accept',
      onConnect: () => {},
      onDisconnect: () => {},
      onSubscribed: (peer) => subscribed(peer),
      onSyncStream: (s) => s.abort(new Error('not measured here')),
    },
  );
  const subscription = () =>
    new Promise<string>((resolve) => {
      subscribed = resolve;
    });
  return { t, subscription };
}

/** Mean CPU ms per connection over K connections (after 10 to warm up). */
async function measure(identifyOnConnect: boolean): Promise<{ cpu: number; wall: number }> {
  const a = await agent(identifyOnConnect);
  const b = await agent(identifyOnConnect);
  try {
    const addrB = a.t.resolve(`127.0.0.1:${b.t.listenPort()}`, b.t.peerId);
    const once = async () => {
      const both = Promise.all([a.subscription(), b.subscription()]);
      await a.t.dial(addrB, AbortSignal.timeout(5_000));
      await both;
      await a.t.hangUp(b.t.peerId);
      await b.t.hangUp(a.t.peerId);
      // Let both sides finish closing before the next dial, so connections do not overlap.
      await new Promise((r) => setTimeout(r, 20));
    };
    for (let i = 0; i < 10; i++) await once();
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    for (let i = 0; i < K; i++) await once();
    const c = process.cpuUsage(c0);
    const wall = performance.now() - w0 - K * 20;
    return { cpu: (c.user + c.system) / 1000 / K, wall: wall / K };
  } finally {
    await a.t.stop();
    await b.t.stop();
  }
}

const rows: string[] = [];
for (let r = 1; r <= ROUNDS; r++) {
  const shipped = await measure(false);
  const stock = await measure(true);
  rows.push(
    `round ${r}: shipped ${shipped.cpu.toFixed(2)} ms CPU (wall ${shipped.wall.toFixed(1)} ms), ` +
      `with identify ${stock.cpu.toFixed(2)} ms CPU (wall ${stock.wall.toFixed(1)} ms), ratio ${(shipped.cpu / stock.cpu).toFixed(2)}`,
  );
  console.log(rows.at(-1));
}
console.log(`per connection, both sides, ${K} connections a round, pnet on`);
