import type { FastifyInstance } from 'fastify';
import type { ChangeFeed, FeedEvent } from '../events/change-feed.ts';
import { ApiError } from './api-error.ts';
import { NEEDS_CATALOG_SYNC } from './catalog-sync-gate.ts';

/** A comment line this often keeps idle proxies and clients from timing the stream out. */
const KEEPALIVE_MS = 15_000;

/** Streams open at once; each SDK process holds one, so this is far above any real host's need. */
export const MAX_EVENT_STREAMS = 256;

/**
 * Bytes a stream may have queued in the agent (beyond what the socket took) before its reader
 * counts as stuck and the stream is cut; and how long a full socket may stay full. The reader
 * reconnects with Last-Event-ID and gets what it missed from the feed's backlog (or a resync), so
 * cutting loses nothing, and memory stays bounded: 256 streams x 1 MiB at most.
 */
export const MAX_STREAM_BUFFER_BYTES = 1024 * 1024;
export const MAX_STREAM_STALL_MS = 60_000;

export interface EventRoutesOptions {
  readonly maxStreams?: number;
  readonly maxBufferBytes?: number;
  readonly maxStallMs?: number;
}

/**
 * `at` is the agent's wall clock (ms since the epoch) when the change happened: a reader that
 * falls behind (a stalled process, a slow link) still learns when it was, not when it read it.
 * EventSource and other WHATWG parsers ignore a field they do not know, so it costs them nothing.
 */
const eventText = (e: { index: number; type: string; at: number; data: unknown }) =>
  `id: ${e.index}\nevent: ${e.type}\nat: ${e.at}\ndata: ${JSON.stringify(e.data)}\n\n`;

/**
 * GET /v1/events: Server-Sent Events of member and route changes. Each event's id is the feed
 * index; a client that reconnects with `Last-Event-ID` (or `?index=`) gets what it missed, or a
 * `resync` event when that is no longer kept and it must re-read the state.
 */
export function registerEventRoutes(
  app: FastifyInstance,
  feed: ChangeFeed,
  opts: EventRoutesOptions = {},
): { subscribers: () => number } {
  const maxStreams = opts.maxStreams ?? MAX_EVENT_STREAMS;
  const maxBuffer = opts.maxBufferBytes ?? MAX_STREAM_BUFFER_BYTES;
  const maxStall = opts.maxStallMs ?? MAX_STREAM_STALL_MS;
  let open = 0;
  app.get('/v1/events', NEEDS_CATALOG_SYNC, (req, reply) => {
    const header = req.headers['last-event-id'];
    const query = (req.query as Record<string, unknown>).index;
    const raw = typeof header === 'string' && header !== '' ? header : typeof query === 'string' ? query : undefined;
    if (raw !== undefined && !/^\d+$/.test(raw)) {
      throw new ApiError(400, `Last-Event-ID: "${raw}" is not an event index`);
    }
    if (open >= maxStreams) {
      reply.header('retry-after', '5');
      throw new ApiError(
        503,
        `too many event streams (${maxStreams} open): retry later, or share one stream per process`,
      );
    }
    open++;
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
    let closed = false;
    let stall: NodeJS.Timeout | undefined;
    const write = (text: string) => {
      if (closed) return;
      // A reader that stopped reading is cut rather than queued for without end.
      if (res.write(text) || stall !== undefined) {
        if (res.writableLength > maxBuffer) res.destroy();
        return;
      }
      stall = setTimeout(() => res.destroy(), maxStall);
      res.once('drain', () => {
        clearTimeout(stall);
        stall = undefined;
      });
    };
    const unsubscribe = feed.subscribe((e: FeedEvent) => write(eventText(e)));
    const marker = (type: string) =>
      eventText({ index: feed.index(), type, at: feed.wallNow(), data: { index: feed.index() } });
    if (raw === undefined) {
      write(marker('hello'));
    } else {
      const missed = Number(raw) > feed.index() ? undefined : feed.since(Number(raw));
      const replay = missed?.map(eventText).join('');
      // An id beyond our index was issued by an earlier life of this agent, and a replay larger
      // than a stream may queue is cheaper as a fresh read: both start over.
      write(replay === undefined || replay.length > maxBuffer ? marker('resync') : replay);
    }
    const keepalive = setInterval(() => write(': keepalive\n\n'), KEEPALIVE_MS);
    res.once('close', () => {
      closed = true;
      open--;
      clearInterval(keepalive);
      clearTimeout(stall);
      unsubscribe();
    });
  });
  return { subscribers: () => open };
}
