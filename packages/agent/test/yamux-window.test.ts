// halfWindowUpdates (catalog/yamux-window.ts) over real libp2p connections on 127.0.0.1 (TCP,
// Noise, Yamux): the receiver sends a window update only once half its window is used, data still
// flows past many windows, and the library alone sends one per data frame (so this test also
// fails if an upgrade of @libp2p/yamux changes the internals the wrapper relies on).

import type { StreamMuxerFactory } from '@libp2p/interface';
import { noise } from '@libp2p/noise';
import { tcp } from '@libp2p/tcp';
import { yamux } from '@libp2p/yamux';
import { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p';
import { afterEach, describe, expect, it } from 'vitest';
import { halfWindowUpdates } from '../src/catalog/yamux-window.ts';

const PROTOCOL = '/vigil-test/yamux-window/1';
/** Yamux frame type 1: window update. */
const WINDOW_UPDATE = 1;

interface Counter {
  /** Window updates without flags (not opening, accepting or closing a stream) that were sent. */
  updates: number;
}

/** Counts the plain window updates every muxer made by `factory` sends. */
function counting<C>(factory: (c: C) => StreamMuxerFactory, counter: Counter): (c: C) => StreamMuxerFactory {
  return (components) => {
    const f = factory(components);
    const create = f.createStreamMuxer.bind(f);
    f.createStreamMuxer = (conn) => {
      const muxer = create(conn);
      const m = muxer as unknown as {
        sendFrame(h: { type: number; flag: number; streamID: number }, d?: unknown): boolean;
      };
      const send = m.sendFrame.bind(muxer);
      m.sendFrame = (header, data) => {
        if (header.type === WINDOW_UPDATE && header.flag === 0 && header.streamID !== 0) counter.updates++;
        return send(header, data);
      };
      return muxer;
    };
    return f;
  };
}

const nodes: Libp2p[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

async function node(muxer: NonNullable<Libp2pOptions['streamMuxers']>[number]): Promise<Libp2p> {
  const n = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [muxer],
    connectionMonitor: { enabled: false },
  });
  nodes.push(n);
  return n;
}

/** Sends `count` messages of `size` bytes from a new node to a receiving one; returns what arrived. */
async function transfer(wrap: boolean, count: number, size: number) {
  const counter: Counter = { updates: 0 };
  const base = () => yamux();
  const receiverMuxer = counting(wrap ? halfWindowUpdates(base()) : base(), counter);
  const receiver = await node(receiverMuxer);
  let received = 0;
  let bad = 0;
  const done = new Promise<void>((resolve) => {
    void receiver.handle(PROTOCOL, async (stream) => {
      for await (const chunk of stream) {
        const bytes = chunk.subarray();
        for (const b of bytes) if (b !== 7) bad++;
        received += bytes.length;
      }
      resolve();
    });
  });
  const sender = await node(wrap ? halfWindowUpdates(yamux()) : yamux());
  const conn = await sender.dial(receiver.getMultiaddrs()[0]!);
  const stream = await conn.newStream(PROTOCOL);
  const message = new Uint8Array(size).fill(7);
  for (let i = 0; i < count; i++) {
    if (!stream.send(message)) await stream.onDrain();
    // One frame per message, as gossipsub writes its RPCs: let each reach the socket on its own.
    if (i % 16 === 0) await new Promise((r) => setImmediate(r));
  }
  await stream.close();
  await done;
  return { received, bad, updates: counter.updates };
}

describe('yamux window updates', () => {
  it('the library alone answers every data frame with a window update', async () => {
    const r = await transfer(false, 300, 200);
    expect(r.received).toBe(300 * 200);
    expect(r.updates).toBeGreaterThan(100);
  });

  it('wrapped, small messages cause no update until half the window is used', async () => {
    const r = await transfer(true, 300, 200);
    expect(r).toEqual({ received: 300 * 200, bad: 0, updates: 0 });
  });

  it('wrapped, data past many windows still flows, with one update per half window', async () => {
    // 4 MiB through a 256 KiB initial window: the sender runs dry unless it is given more. (Yamux
    // also doubles a fast reader's window, up to 16 MiB, so a few updates are enough.)
    const r = await transfer(true, 1024, 4096);
    expect(r.received).toBe(1024 * 4096);
    expect(r.bad).toBe(0);
    expect(r.updates).toBeGreaterThanOrEqual(1);
    expect(r.updates).toBeLessThanOrEqual(40);
  });
});
