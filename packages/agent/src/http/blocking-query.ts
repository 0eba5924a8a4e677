import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ChangeFeed } from '../events/change-feed.ts';
import { ApiError } from './api-error.ts';

/** Consul: default wait 5 minutes, at most 10, plus up to wait/16 of jitter. */
const DEFAULT_WAIT_MS = 5 * 60_000;
const MAX_WAIT_MS = 10 * 60_000;

/**
 * Blocking queries held open at once. Each costs a socket and a listener; Prometheus and
 * consul-template hold a few each. Past this a new one gets 503 with Retry-After instead of
 * holding yet another socket.
 */
export const MAX_BLOCKING_QUERIES = 1024;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `?index=&wait=` as Consul's clients send them (`wait=120000ms`, `wait=60s`). */
export function parseBlockingQuery(query: Record<string, unknown>): { index?: number; waitMs: number } {
  const out: { index?: number; waitMs: number } = { waitMs: DEFAULT_WAIT_MS };
  if (query.index !== undefined) {
    const index = Number(query.index);
    if (typeof query.index !== 'string' || !/^\d+$/.test(query.index) || !Number.isSafeInteger(index)) {
      throw new ApiError(400, `index: "${String(query.index)}" is not a non-negative integer`);
    }
    out.index = index;
  }
  if (query.wait !== undefined) {
    const m = typeof query.wait === 'string' ? /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(query.wait) : null;
    if (!m) throw new ApiError(400, `wait: "${String(query.wait)}" is not a duration such as 60s or 120000ms`);
    out.waitMs = Math.min(MAX_WAIT_MS, Number(m[1]) * (UNITS[m[2] ?? 's'] ?? 1000));
  }
  return out;
}

/**
 * Runs a Consul-style blocking read: when the request carries an index the feed has not passed,
 * wait (up to `wait`, plus jitter) for a change first. Sets the index headers our clients and
 * Consul's read (`X-Consul-LastContact` is required by older Go clients).
 */
export async function blockingRead<T>(
  req: FastifyRequest,
  reply: FastifyReply,
  feed: ChangeFeed,
  read: () => T,
  maxWaiting = MAX_BLOCKING_QUERIES,
): Promise<T> {
  const { index, waitMs } = parseBlockingQuery(req.query as Record<string, unknown>);
  if (index !== undefined && index >= feed.index()) {
    if (feed.waiting() >= maxWaiting) {
      reply.header('retry-after', '5');
      throw new ApiError(503, `too many blocking queries (${maxWaiting} waiting): retry later`);
    }
    const abort = new AbortController();
    req.raw.once('close', () => abort.abort());
    await feed.waitForChange(index, waitMs, abort.signal, waitMs / 16);
  }
  const current = String(feed.index());
  reply.header('X-Vigil-Index', current);
  reply.header('X-Consul-Index', current);
  reply.header('X-Consul-KnownLeader', 'true');
  reply.header('X-Consul-LastContact', '0');
  return read();
}
