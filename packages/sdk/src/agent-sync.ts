import type { RouteChange, RoutesResponse, RouteTable } from '@vigil/protocol';
import { ExponentialBackoff, fullJitterGenerator, type IBackoff } from 'cockatiel';
import { Agent, request } from 'undici';
import { AgentResponseError } from './errors.ts';
import { SseParser } from './sse.ts';

export interface SyncHandlers {
  /** A full read of GET /v1/routes: these are all the tables, as of `index`. */
  replace(tables: readonly RouteTable[], index: number): void;
  /** One route event from the stream. */
  change(change: RouteChange, index: number): void;
  /** One member event from the stream (passed through as the agent sent it). */
  member(data: unknown, index: number): void;
  /** The tables are current again (a read succeeded and the stream is being followed). */
  connected(): void;
  /** The agent cannot be followed right now; the tables age from this moment. */
  disconnected(error: unknown): void;
}

export interface AgentSyncOptions {
  readonly agent: string;
  readonly token: string | undefined;
  readonly reconnectInitialMs: number;
  readonly reconnectMaxMs: number;
  readonly streamIdleMs: number;
  readonly readTimeoutMs: number;
}

export interface SyncStats {
  index: number;
  reads: number;
  streams: number;
  reconnects: number;
  resyncs: number;
  events: number;
  badEvents: number;
  lastError: string | undefined;
}

/**
 * Follows the agent: read GET /v1/routes (all tables and the index N), then follow GET /v1/events
 * with `Last-Event-ID: N`, so the agent replays anything that happened between the read and the
 * stream. On `event: resync` (the agent no longer holds what we missed) read again. When the
 * stream drops, reconnect with fully jittered exponential backoff.
 *
 * Every (re)connection starts with a read rather than resuming the stream from the last id seen:
 * the agent's index starts over when the agent restarts, so an id from before the restart can be
 * ahead of the new agent's feed, which would then silently send nothing. The read learns the
 * agent's current index (and its tables) first, so the resume id is always one the agent issued.
 * It also confirms at once that the tables are current, without waiting for the first event.
 */
export class AgentSync {
  readonly stats: SyncStats = {
    index: 0,
    reads: 0,
    streams: 0,
    reconnects: 0,
    resyncs: 0,
    events: 0,
    badEvents: 0,
    lastError: undefined,
  };
  private readonly opts: AgentSyncOptions;
  private readonly handlers: SyncHandlers;
  private readonly dispatcher: Agent;
  private readonly stopCtl = new AbortController();
  private readonly backoffFactory: ExponentialBackoff<unknown>;
  private loop: Promise<void> | undefined;
  private readonly headers: Record<string, string>;

  constructor(opts: AgentSyncOptions, handlers: SyncHandlers) {
    this.opts = opts;
    this.handlers = handlers;
    this.dispatcher = new Agent({ connections: 2, keepAliveTimeout: 10_000, connect: { timeout: opts.readTimeoutMs } });
    this.backoffFactory = new ExponentialBackoff({
      generator: fullJitterGenerator,
      initialDelay: opts.reconnectInitialMs,
      maxDelay: opts.reconnectMaxMs,
    });
    this.headers = opts.token ? { 'x-vigil-token': opts.token } : {};
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopCtl.abort();
    await this.loop;
    await this.dispatcher.destroy();
  }

  private async run(): Promise<void> {
    const stop = this.stopCtl.signal;
    let backoff: IBackoff<unknown> | undefined;
    let quickResyncs = 0;
    while (!stop.aborted) {
      let slow = false;
      try {
        const { index, tables } = await this.read();
        this.stats.index = index;
        this.handlers.replace(tables, index);
        this.handlers.connected();
        backoff = undefined;
        const started = Date.now();
        const how = await this.follow(index);
        if (how === 'resync') {
          this.stats.resyncs++;
          // A resync right after a read is not expected; if the agent keeps asking, slow down.
          quickResyncs = Date.now() - started < 1_000 ? quickResyncs + 1 : 0;
          if (quickResyncs <= 3) continue;
        }
        this.handlers.disconnected(
          new Error(how === 'resync' ? 'the agent keeps asking for a resync' : 'the agent closed the event stream'),
        );
      } catch (err) {
        if (stop.aborted) break;
        this.stats.lastError = err instanceof Error ? err.message : String(err);
        this.handlers.disconnected(err);
        // A 4xx (token, agent version) does not heal by itself within milliseconds: retry slowly.
        slow = err instanceof AgentResponseError && err.status < 500;
      }
      if (stop.aborted) break;
      backoff = backoff === undefined ? this.backoffFactory.next() : backoff.next(undefined);
      this.stats.reconnects++;
      await sleep(slow ? this.opts.reconnectMaxMs : backoff.duration, stop);
    }
  }

  /** GET /v1/routes, validated. */
  async read(): Promise<RoutesResponse> {
    this.stats.reads++;
    const path = '/v1/routes';
    const res = await request(new URL(path, this.opts.agent), {
      dispatcher: this.dispatcher,
      headers: this.headers,
      signal: this.stopCtl.signal,
      headersTimeout: this.opts.readTimeoutMs,
      bodyTimeout: this.opts.readTimeoutMs,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) {
      throw new AgentResponseError(this.opts.agent, path, res.statusCode, errorDetail(text));
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new AgentResponseError(this.opts.agent, path, res.statusCode, 'the body is not JSON');
    }
    const header = Number(res.headers['x-vigil-index'] ?? res.headers['x-consul-index']);
    const b = body as { index?: unknown; tables?: unknown };
    const index = typeof b.index === 'number' ? b.index : header;
    if (!Number.isSafeInteger(index) || index < 0 || !Array.isArray(b.tables) || !b.tables.every(isRouteTable)) {
      throw new AgentResponseError(
        this.opts.agent,
        path,
        res.statusCode,
        'the body is not a RoutesResponse {index, tables}',
      );
    }
    return { index, tables: b.tables };
  }

  /**
   * Follows GET /v1/events from `index` until the stream ends ('ended'), the agent asks for a
   * resync ('resync'), or it fails (throws).
   */
  private async follow(index: number): Promise<'ended' | 'resync'> {
    const ctl = new AbortController();
    const stop = this.stopCtl.signal;
    const onStop = () => ctl.abort(stop.reason);
    stop.addEventListener('abort', onStop, { once: true });
    this.stats.streams++;
    let last = index;
    let resync = false;
    const parser = new SseParser((e) => {
      if (resync) return;
      this.stats.events++;
      if (e.event === 'resync') {
        resync = true;
        return;
      }
      const id = e.id === undefined ? Number.NaN : Number(e.id);
      if (!Number.isSafeInteger(id)) {
        if (e.event === 'route' || e.event === 'member') {
          this.stats.badEvents++;
          resync = true;
        }
        return;
      }
      if (id <= last) {
        // A replayed or reordered event (or an agent whose index went back): reread if it is new.
        if (id < last && e.event === 'route') resync = true;
        return;
      }
      if (e.event === 'route') {
        let change: unknown;
        try {
          change = JSON.parse(e.data);
        } catch {
          change = undefined;
        }
        if (!isRouteChange(change)) {
          this.stats.badEvents++;
          resync = true;
          return;
        }
        this.handlers.change(change, id);
      } else if (e.event === 'member') {
        let data: unknown;
        try {
          data = JSON.parse(e.data);
        } catch {
          this.stats.badEvents++;
          return;
        }
        this.handlers.member(data, id);
      }
      last = id;
      this.stats.index = id;
    });
    try {
      const res = await request(new URL('/v1/events', this.opts.agent), {
        dispatcher: this.dispatcher,
        headers: { ...this.headers, accept: 'text/event-stream', 'last-event-id': String(index) },
        signal: ctl.signal,
        // The agent writes a keepalive comment every 15s: silence longer than this is a dead stream.
        headersTimeout: this.opts.streamIdleMs,
        bodyTimeout: this.opts.streamIdleMs,
      });
      if (res.statusCode !== 200) {
        const text = await res.body.text();
        throw new AgentResponseError(this.opts.agent, '/v1/events', res.statusCode, errorDetail(text));
      }
      const decoder = new TextDecoder();
      for await (const chunk of res.body) {
        parser.feed(decoder.decode(chunk as Buffer, { stream: true }));
        if (resync) {
          res.body.destroy();
          return 'resync';
        }
      }
      return 'ended';
    } finally {
      stop.removeEventListener('abort', onStop);
      ctl.abort();
    }
  }
}

function errorDetail(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: unknown; message?: unknown };
    const m = j.error ?? j.message;
    if (typeof m === 'string') return m;
  } catch {
    // not JSON
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text || '(empty body)';
}

const STATES = new Set(['active', 'standby', 'demoted']);

/** Boundary validation of a table from the agent (the fields the SDK relies on). */
export function isRouteTable(x: unknown): x is RouteTable {
  if (typeof x !== 'object' || x === null) return false;
  const t = x as Record<string, unknown>;
  if (typeof t.service !== 'string' || t.service === '' || !Array.isArray(t.endpoints)) return false;
  for (const e of t.endpoints as unknown[]) {
    if (typeof e !== 'object' || e === null) return false;
    const p = e as Record<string, unknown>;
    if (typeof p.address !== 'string' || p.address === '') return false;
    if (typeof p.port !== 'number' || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535) return false;
    if (typeof p.state !== 'string' || !STATES.has(p.state)) return false;
    if (typeof p.share !== 'number' || !Number.isFinite(p.share) || p.share < 0) return false;
    if (typeof p.node !== 'string' || typeof p.id !== 'string') return false;
    if (typeof p.tier !== 'number' || typeof p.zone !== 'string') return false;
  }
  return true;
}

function isRouteChange(x: unknown): x is RouteChange {
  if (typeof x !== 'object' || x === null) return false;
  const c = x as Record<string, unknown>;
  if (typeof c.service !== 'string') return false;
  if (c.change === 'removed') return true;
  if (c.change !== 'added' && c.change !== 'changed') return false;
  return isRouteTable(c.table) && (c.table as RouteTable).service === c.service;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
