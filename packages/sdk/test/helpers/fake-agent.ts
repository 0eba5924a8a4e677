/**
 * A stand-in for the Vigil agent's HTTP API, implementing the contract of
 * packages/protocol/src/api/routes.ts and the agent's change feed: GET /v1/routes (with
 * X-Vigil-Index / X-Consul-Index and blocking `?index=&wait=`), GET /v1/events (SSE: `id`, `event:
 * route|member|hello|resync`, Last-Event-ID replay from a bounded backlog, resync when the id is
 * no longer kept or is ahead of the feed, as after an agent restart). The SDK tests run against
 * it; the end-to-end test against real agents comes with the demo.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RouteEndpoint, RouteTable } from '@vigil/protocol';

interface FeedEvent {
  readonly index: number;
  readonly type: string;
  readonly data: unknown;
}

export interface StreamRecord {
  readonly lastEventId: string | undefined;
  readonly token: string | undefined;
}

export class FakeAgent {
  readonly tables = new Map<string, RouteTable>();
  /** Every GET /v1/events: what the client asked to resume from. */
  readonly streams: StreamRecord[] = [];
  reads = 0;
  /** Bodies of POST /v1/agent/observations, parsed, in arrival order. */
  readonly observations: { observations: Record<string, unknown>[] }[] = [];
  /** The X-Vigil-Token of each of those, in the same order. */
  readonly observationTokens: (string | undefined)[] = [];
  readTokens: (string | undefined)[] = [];
  /** Answer POST /v1/agent/observations with 403, as an agent whose ACL token the client lacks. */
  refuseObservations = false;
  /** Hold the answers to observation batches (an agent busy elsewhere) until releaseObservations(). */
  holdObservations = false;
  private readonly heldObservations: (() => void)[] = [];
  /** Answer GET /v1/routes with this status instead (for error tests). */
  failReadsWith: number | undefined;
  private index = 1;
  private backlog: FeedEvent[] = [];
  private readonly backlogMax: number;
  private server: http.Server | undefined;
  private readonly clients = new Set<http.ServerResponse>();
  private readonly waiters = new Set<() => void>();
  port = 0;

  constructor(options: { backlog?: number } = {}) {
    this.backlogMax = options.backlog ?? 1000;
  }

  /** Answers the held observation batches, and those that come later at once. */
  releaseObservations(): void {
    this.holdObservations = false;
    for (const answer of this.heldObservations.splice(0)) answer();
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get currentIndex(): number {
    return this.index;
  }

  /** Listens on `port` (0: any free one; the same one again after stop()). */
  async start(port = this.port): Promise<void> {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 1_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Stops like a crashed agent: every connection, the event streams included, is cut. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const res of this.clients) res.destroy();
    this.clients.clear();
    for (const w of this.waiters) w();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** An agent restart: the feed starts over at index 1 with an empty backlog (tables as given). */
  resetFeed(): void {
    this.index = 1;
    this.backlog = [];
  }

  /** Ends the open event streams without stopping the server. */
  dropStreams(): void {
    for (const res of this.clients) res.destroy();
    this.clients.clear();
  }

  /** Tells the open streams to resync (as when their Last-Event-ID fell out of the backlog). */
  sendResync(): void {
    for (const res of this.clients) send(res, { index: this.index, type: 'resync', data: { index: this.index } });
  }

  /** Writes a raw SSE frame to the open streams (malformed input tests). */
  sendRaw(frame: string): void {
    for (const res of this.clients) res.write(frame);
  }

  get openStreams(): number {
    return this.clients.size;
  }

  setTable(table: RouteTable): void {
    const change = this.tables.has(table.service) ? 'changed' : 'added';
    this.tables.set(table.service, table);
    this.publish('route', { change, service: table.service, table });
  }

  /** Changes the table without telling anyone (as if the event had been lost). */
  setTableSilently(table: RouteTable): void {
    this.tables.set(table.service, table);
    this.index++;
  }

  removeService(service: string): void {
    this.tables.delete(service);
    this.publish('route', { change: 'removed', service });
  }

  publish(type: string, data: unknown): void {
    const event = { index: ++this.index, type, data };
    this.backlog.push(event);
    if (this.backlog.length > this.backlogMax) this.backlog.splice(0, this.backlog.length - this.backlogMax);
    for (const res of this.clients) send(res, event);
    for (const w of this.waiters) w();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://agent');
    if (req.method === 'GET' && url.pathname === '/v1/routes') {
      void this.routes(req, res, url);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/v1/events') {
      this.events(req, res);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/v1/agent/observations') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.observations.push(JSON.parse(Buffer.concat(chunks).toString()));
        this.observationTokens.push(header(req, 'x-vigil-token'));
        if (this.refuseObservations) {
          res.writeHead(403, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'permission denied: send the ACL token in X-Vigil-Token' }));
          return;
        }
        const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        if (this.holdObservations) this.heldObservations.push(answer);
        else answer();
      });
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
  }

  private async routes(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    this.reads++;
    this.readTokens.push(header(req, 'x-vigil-token'));
    if (this.failReadsWith !== undefined) {
      res.writeHead(this.failReadsWith, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'permission denied: send it in X-Vigil-Token' }));
      return;
    }
    const after = url.searchParams.get('index');
    const wait = url.searchParams.get('wait');
    if (after !== null && Number(after) >= this.index) {
      const ms = wait === null ? 300_000 : Number.parseFloat(wait) * (wait.endsWith('ms') ? 1 : 1000);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        this.waiters.add(done);
        req.once('close', done);
      });
    }
    if (res.destroyed) return;
    const body = JSON.stringify({ index: this.index, tables: [...this.tables.values()] });
    res.writeHead(200, {
      'content-type': 'application/json',
      'x-vigil-index': String(this.index),
      'x-consul-index': String(this.index),
    });
    res.end(body);
  }

  private events(req: http.IncomingMessage, res: http.ServerResponse): void {
    const raw = header(req, 'last-event-id');
    this.streams.push({ lastEventId: raw, token: header(req, 'x-vigil-token') });
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.flushHeaders();
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    if (raw === undefined) {
      send(res, { index: this.index, type: 'hello', data: { index: this.index } });
      return;
    }
    const from = Number(raw);
    const first = this.backlog[0];
    const kept = from <= this.index && (from === this.index || (first !== undefined && first.index <= from + 1));
    if (!kept) {
      send(res, { index: this.index, type: 'resync', data: { index: this.index } });
      return;
    }
    for (const e of this.backlog) if (e.index > from) send(res, e);
    res.write(': keepalive\n\n');
  }
}

function send(res: http.ServerResponse, e: FeedEvent): void {
  res.write(`id: ${e.index}\nevent: ${e.type}\nat: ${Date.now()}\ndata: ${JSON.stringify(e.data)}\n\n`);
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** A route table for tests; endpoint fields default to an active, passing instance. */
export function table(
  service: string,
  endpoints: readonly (Partial<RouteEndpoint> & { port: number })[],
  policy: RouteTable['policy'] = 'active-passive',
): RouteTable {
  return {
    service,
    policy,
    panic: false,
    redundancy: 'N+0',
    endpoints: endpoints.map((e, i) => ({
      node: e.node ?? `node-${i}`,
      id: e.id ?? `${service}-${i}`,
      address: e.address ?? '127.0.0.1',
      port: e.port,
      zone: e.zone ?? 'z1',
      tier: e.tier ?? 0,
      tags: e.tags ?? [],
      meta: e.meta ?? {},
      health: e.health ?? 'passing',
      state: e.state ?? 'active',
      share: e.share ?? 0,
    })),
  };
}

/** Polls `check` until it holds (generous default of 5s), then returns. */
export async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A seeded PRNG (mulberry32), for statistical tests that must not flake. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
