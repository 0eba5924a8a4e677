import { connect, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ChangeFeed } from '../src/events/change-feed.ts';
import { requireToken } from '../src/http/acl-token.ts';
import { blockingRead } from '../src/http/blocking-query.ts';
import { type EventRoutesOptions, registerEventRoutes } from '../src/http/event-routes.ts';
import { createHttpServer, MAX_BODY_BYTES } from '../src/http/server.ts';

const log = pino({ level: 'silent' });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A real server on loopback with a write route, a token-guarded one, events and a blocking read. */
async function server(events: EventRoutesOptions = {}, maxWaiting = 2) {
  const app: FastifyInstance = createHttpServer(log);
  const feed = new ChangeFeed();
  app.put('/w', async () => ({ ok: true }));
  app.register(async (guarded) => {
    guarded.addHook('onRequest', requireToken('sesame'));
    guarded.put('/guarded', async () => ({ ok: true }));
  });
  app.get('/blocking', (req, reply) => blockingRead(req, reply, feed, () => ({ index: feed.index() }), maxWaiting));
  registerEventRoutes(app, feed, events);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const sockets = new Set<Socket>();
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await app.close();
  });
  const port = (app.server.address() as { port: number }).port;
  /** A raw connection: what the test writes is what the server reads. */
  const open = () =>
    new Promise<Socket>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(s));
      sockets.add(s);
      s.once('error', reject);
    });
  return { app, feed, port, open };
}

/** Reads one HTTP response (head and the body so far) until the server ends or `done` holds. */
function readResponse(s: Socket, done: (text: string) => boolean = () => false): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    s.on('data', (d) => {
      text += d;
      if (done(text)) resolve(text);
    });
    s.once('end', () => resolve(text));
    s.once('error', reject);
  });
}

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
const bodyOf = (text: string) => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;

/**
 * Writes `bytes` of body in 64 KiB chunks, honouring backpressure, as a real client does; 12 MiB
 * is more than loopback's socket buffers hold, so the server must read it for the client to finish.
 */
async function sendBody(s: Socket, bytes: number, chunked: boolean): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let sent = 0;
  for (; sent < bytes; sent += chunk.length) {
    const framed = chunked
      ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')])
      : chunk;
    if (!s.write(framed)) {
      await new Promise((r) => {
        s.once('drain', r);
        s.once('close', r);
      });
    }
    if (s.destroyed) return sent;
  }
  if (chunked && !s.destroyed) s.write('0\r\n\r\n');
  return sent;
}

describe('refused bodies', () => {
  for (const [what, path, head, expected] of [
    ['an oversized body with Content-Length', '/w', `Content-Length: ${12 * MAX_BODY_BYTES}`, 413],
    ['an oversized chunked body', '/w', 'Transfer-Encoding: chunked', 413],
    ['a body sent without the token', '/guarded', `Content-Length: ${12 * MAX_BODY_BYTES}`, 403],
  ] as const) {
    it(`answers ${what} so that the client, still sending, reads the answer`, async () => {
      const { open } = await server();
      const s = await open();
      const errors: string[] = [];
      s.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message));
      let text = '';
      s.on('data', (d) => {
        text += d;
      });
      s.write(`PUT ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${head}\r\n\r\n`);
      const bytes = head.startsWith('Content-Length') ? Number(head.split(': ')[1]) : 12 * MAX_BODY_BYTES;
      // Before: the server closed with the body unread, the kernel reset the connection, and the
      // client's writes failed (EPIPE, ECONNRESET), as fetch reports them, before all was sent.
      const sent = await sendBody(s, bytes, head.startsWith('Transfer'));
      expect(errors).toEqual([]);
      expect(sent).toBeGreaterThanOrEqual(bytes);
      await new Promise<void>((resolve) => {
        const check = () => (text.includes('}') ? resolve() : s.once('data', check));
        check();
      });
      expect(errors).toEqual([]);
      expect(statusOf(text as string)).toBe(expected);
      expect(Object.keys(bodyOf(text as string))).toEqual(['error']);
    });
  }
});

describe('error bodies', () => {
  it('are {"error": ...} for what fastify and Node answer themselves', async () => {
    const { open } = await server();
    for (const [request, status] of [
      ['GET /%zz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 400],
      ['GARBAGE\r\n\r\n', 400],
      ['GET /w HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n', 400],
      ['PUT /w HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Length: 3\r\n\r\n<a>', 415],
      ['PUT /w HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n{x}', 400],
    ] as const) {
      const s = await open();
      const text = readResponse(s, (t) => t.includes('}'));
      s.write(request);
      const answer = await text;
      s.destroy();
      expect(statusOf(answer), request).toBe(status);
      const body = bodyOf(answer);
      expect(Object.keys(body), request).toEqual(['error']);
      expect(body.error, request).not.toMatch(/^(Bad Request|Client Error)$/);
    }
  });
});

describe('the event stream', () => {
  const get = (path: string, headers = '') => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n`;

  it('caps open streams with a 503, and frees the slot when a stream closes', async () => {
    const { open, feed } = await server({ maxStreams: 2 });
    const streams = [await open(), await open()];
    for (const s of streams) {
      const hello = readResponse(s, (t) => t.includes('event: hello'));
      s.write(get('/v1/events'));
      await hello;
    }
    const third = await open();
    const refused = readResponse(third, (t) => t.includes('}'));
    third.write(get('/v1/events'));
    const text = await refused;
    expect(statusOf(text)).toBe(503);
    expect(bodyOf(text).error).toMatch(/too many event streams \(2 open\)/);
    expect(text.toLowerCase()).toContain('retry-after: 5');
    streams[0]!.destroy();
    await until(() => feedListeners(feed) === 1);
    const again = await open();
    const hello = readResponse(again, (t) => t.includes('event: hello'));
    again.write(get('/v1/events'));
    expect(statusOf(await hello)).toBe(200);
  });

  for (const [what, limits] of [
    ['queues more than its buffer limit', { maxBufferBytes: 64 * 1024 }],
    ['stays full past its stall limit', { maxBufferBytes: 1e12, maxStallMs: 100 }],
  ] as const) {
    it(`cuts a reader that stopped reading when it ${what}`, async () => {
      const { open, feed } = await server(limits);
      const s = await open();
      const hello = readResponse(s, (t) => t.includes('event: hello'));
      s.write(get('/v1/events'));
      await hello;
      s.pause(); // the reader stops reading; the kernel buffers fill, then the agent's would
      let closed = false;
      s.once('close', () => {
        closed = true;
      });
      s.on('error', () => {});
      const pad = 'x'.repeat(8 * 1024);
      // Bounded: 4000 events of 8 KiB (32 MiB) is more than loopback buffers hold.
      for (let i = 0; i < 4000 && feedListeners(feed) > 0; i++) {
        feed.publish('route', { pad });
        if (i % 32 === 0) await new Promise((r) => setTimeout(r, 1));
      }
      await until(() => feedListeners(feed) === 0);
      s.destroy();
      expect(closed || s.destroyed).toBe(true);
    });
  }

  it("stamps each event with the agent's clock when it happened, not when it is sent", async () => {
    const { open, feed } = await server();
    const published = feed.publish('route', { service: 'web' });
    const s = await open();
    // A replay is sent after the change: its `at` must still be the change's.
    const replay = readResponse(s, (t) => t.includes('data: '));
    s.write(get('/v1/events', `Last-Event-ID: ${published.index - 1}\r\n`));
    const text = await replay;
    expect(/event: route\nat: (\d+)\ndata: /.exec(text)?.[1]).toBe(String(published.at));
  });

  it('sends a resync instead of a replay larger than a stream may queue', async () => {
    const { open, feed } = await server({ maxBufferBytes: 64 * 1024 });
    for (let i = 0; i < 100; i++) feed.publish('route', { pad: 'y'.repeat(2048) });
    const s = await open();
    const first = readResponse(s, (t) => /event: \w+/.test(t));
    s.write(get('/v1/events', 'Last-Event-ID: 1\r\n'));
    expect(/event: (\w+)/.exec(await first)?.[1]).toBe('resync');
    const small = await open();
    const replay = readResponse(small, (t) => /event: \w+/.test(t));
    small.write(get('/v1/events', `Last-Event-ID: ${feed.index() - 2}\r\n`));
    expect(/event: (\w+)/.exec(await replay)?.[1]).toBe('route');
  });
});

describe('blocking queries', () => {
  it('hold at most the cap open; the next gets a 503 at once, and the held ones still answer', async () => {
    const { open, feed } = await server({}, 2);
    const path = `/blocking?index=${feed.index()}&wait=30s`;
    const held = await Promise.all([open(), open()]);
    const answers = held.map((s) => readResponse(s, (t) => t.includes('}')));
    for (const s of held) s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await until(() => feed.waiting() === 2);
    const third = await open();
    const refused = readResponse(third, (t) => t.includes('}'));
    third.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    const text = await refused;
    expect(statusOf(text)).toBe(503);
    expect(bodyOf(text).error).toMatch(/too many blocking queries \(2 waiting\)/);
    feed.publish('route', {});
    for (const a of answers) expect(statusOf(await a)).toBe(200);
    expect(feed.waiting()).toBe(0);
  });
});

/** Each open stream is one subscriber of the feed. */
const feedListeners = (feed: ChangeFeed) => feed.subscribers();

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('HEAD', () => {
  it("answers with its GET route's status and headers and no body", async () => {
    const { open } = await server();
    const s = await open();
    const response = readResponse(s, (t) => t.split('HTTP/1.1 ').length === 3 && t.endsWith('\r\n\r\n'));
    // Two requests on one connection: a body sent for the first would be read as the second's head.
    s.write('HEAD /blocking HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nHEAD /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const text = await response;
    const [first, second] = text.split(/(?=HTTP\/1\.1 )/);
    expect(statusOf(first!)).toBe(200);
    expect(first).toMatch(/content-length: [1-9]/i);
    expect(first!.endsWith('\r\n\r\n')).toBe(true);
    expect(statusOf(second!)).toBe(404);
  });
});
