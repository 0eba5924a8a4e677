import type { FastifyInstance } from 'fastify';
import type { ChangeFeed, FeedEvent } from '../events/change-feed.ts';
import { ApiError } from './api-error.ts';

/** A comment line this often keeps idle proxies and clients from timing the stream out. */
const KEEPALIVE_MS = 15_000;

/**
 * GET /v1/events: Server-Sent Events of member and route changes. Each event's id is the feed
 * index; a client that reconnects with `Last-Event-ID` (or `?index=`) gets what it missed, or a
 * `resync` event when that is no longer kept and it must re-read the state.
 */
export function registerEventRoutes(app: FastifyInstance, feed: ChangeFeed): { subscribers: () => number } {
  let subscribers = 0;
  app.get('/v1/events', (req, reply) => {
    const header = req.headers['last-event-id'];
    const query = (req.query as Record<string, unknown>).index;
    const raw = typeof header === 'string' && header !== '' ? header : typeof query === 'string' ? query : undefined;
    if (raw !== undefined && !/^\d+$/.test(raw)) {
      throw new ApiError(400, `Last-Event-ID: "${raw}" is not an event index`);
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-vigil-index': String(feed.index()),
    });
    // Send the headers now: a resumed stream may have nothing to say until the next change.
    res.flushHeaders();
    const send = (e: FeedEvent) => res.write(`id: ${e.index}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
    const unsubscribe = feed.subscribe(send);
    if (raw === undefined) {
      res.write(`id: ${feed.index()}\nevent: hello\ndata: ${JSON.stringify({ index: feed.index() })}\n\n`);
    } else {
      const missed = Number(raw) > feed.index() ? undefined : feed.since(Number(raw));
      // An id beyond our index was issued by an earlier life of this agent: start over too.
      if (missed === undefined) {
        res.write(`id: ${feed.index()}\nevent: resync\ndata: ${JSON.stringify({ index: feed.index() })}\n\n`);
      } else {
        for (const e of missed) send(e);
      }
    }
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    subscribers++;
    req.raw.once('close', () => {
      subscribers--;
      clearInterval(keepalive);
      unsubscribe();
    });
  });
  return { subscribers: () => subscribers };
}
