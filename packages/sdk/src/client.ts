import { EventEmitter } from 'node:events';
import type { RouteChange, RouteLeader, RouteTable } from '@vigil/protocol';
import { Agent, type Dispatcher, fetch as undiciFetch } from 'undici';
import { AgentSync, type SyncStats } from './agent-sync.ts';
import { type BreakerOptions, type BreakerSnapshot, DEFAULT_BREAKER_OPTIONS } from './breaker.ts';
import {
  BREAKER_LIMITS,
  CONNECT_TIMEOUT_MS,
  DEFAULT_AGENT_ADDR,
  RECONNECT_INITIAL_MS,
  RECONNECT_MAX_MS,
  ROUTES_READ_TIMEOUT_MS,
  STREAM_IDLE_MS,
} from './defaults.ts';
import { type ElectHandlers, type Election, startElection } from './elect.ts';
import {
  AgentResponseError,
  AgentUnavailableError,
  ClientClosedError,
  NoHealthyEndpointError,
  UnknownServiceError,
} from './errors.ts';
import {
  type AttemptFn,
  type CallOptions,
  type EngineCall,
  FailoverEngine,
  type RawAttemptFn,
  type ServiceCounters,
  withSignal,
} from './failover.ts';
import { type FetchOptions, meshInterceptor } from './mesh-dispatcher.ts';
import { type MeshHostOptions, MeshHosts } from './mesh-hosts.ts';
import { ObservationReporter, type ObservationStats } from './observations.ts';
import { RetryBudget, type RetryBudgetOptions } from './retry-budget.ts';
import { type BreakerLimits, type Endpoint, type Random, ServiceRoutes } from './service-routes.ts';

export interface ClientOptions {
  /** The agent's HTTP API. Default: VIGIL_HTTP_ADDR, else http://127.0.0.1:7948. */
  readonly agent?: string;
  /** The agent's ACL token (sent as X-Vigil-Token). Default: VIGIL_HTTP_TOKEN or VIGIL_ACL_TOKEN. */
  readonly token?: string;
  /** How long connect() waits for the first sync before it rejects (default 2000ms). */
  readonly connectTimeoutMs?: number;
  /** Preferred zone for resolve(), call() and fetch (within each tier). */
  readonly zone?: string;
  /** Breaker settings for every endpoint (defaults: see defaults.ts). */
  readonly breaker?: Partial<BreakerOptions>;
  /** Defaults for call() and fetch: retries, backoff, timeoutMs, deadlineMs, bulkhead. */
  readonly defaults?: Omit<CallOptions<unknown>, 'signal' | 'fallback' | 'retryOn'>;
  /** Per-service overrides of `defaults` and `breaker`. */
  readonly services?: Readonly<Record<string, ServiceOptions>>;
  /** Options of the mesh-aware HTTP path (client.fetch and client.dispatcher). */
  readonly http?: FetchOptions;
  /** Which request hosts are service names (mesh-hosts.ts): dotless names, except `exclude`, plus `allowDotted`. */
  readonly meshHosts?: MeshHostOptions;
  /** The dispatcher that carries service traffic (default: a new undici Agent, closed by close()). */
  readonly dispatcher?: Dispatcher;
  /** Reconnect backoff towards the agent (default 100ms doubling to 5s, fully jittered). */
  readonly reconnect?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Silence on the event stream after which it counts as dead (default 45s: 3 agent keepalives). */
  readonly streamIdleMs?: number;
  /**
   * Report each endpoint's outcomes to the local agent, which shares this host's view with the
   * mesh (collective outlier detection). Default true.
   */
  readonly observations?: boolean;
  /** Retry budget per service (default on: 20% of calls plus 10 per second); false turns it off. */
  readonly retryBudget?: Partial<RetryBudgetOptions> | false;
  /** How many endpoints this process's breakers may hold out (default: half; panic below half left). */
  readonly breakerLimits?: Partial<BreakerLimits>;
  /** For tests and simulations: the random source of picks (default Math.random). */
  readonly random?: Random;
  /** For tests: the monotonic clock (ms) breakers and staleness use (default performance.now). */
  readonly now?: () => number;
}

export interface ServiceOptions extends Omit<CallOptions<unknown>, 'signal' | 'fallback' | 'retryOn'> {
  readonly breaker?: Partial<BreakerOptions>;
}

export interface ResolveOptions {
  /** Prefer endpoints in this zone (within each tier). */
  readonly zone?: string;
}

export interface RoutesEvent {
  readonly service: string;
  readonly change: RouteChange['change'];
  readonly table: RouteTable | undefined;
  readonly index: number;
}

export interface ClientEvents {
  /** A service's table was added, changed or removed. */
  routes: [RoutesEvent];
  /** The agent cannot be followed; the tables are served as they were, and age from now. */
  stale: [{ readonly error: unknown; readonly since: number }];
  /** The tables are current again after a stale period (or for the first time). */
  fresh: [{ readonly staleForMs: number; readonly index: number }];
  /** A member event from the agent, as the agent sent it. */
  member: [unknown];
}

export interface EndpointStats extends BreakerSnapshot {
  readonly key: string;
  readonly origin: string;
  readonly zone: string;
  readonly tier: number;
  readonly routeState: Endpoint['state'];
  readonly share: number;
}

export interface ServiceStats extends ServiceCounters {
  readonly policy: RouteTable['policy'];
  readonly panic: boolean;
  readonly endpoints: readonly EndpointStats[];
  readonly bulkheads: readonly { concurrency: number; queue: number; running: number; queued: number }[];
  /** Endpoints whose breaker is open or half-open. */
  readonly ejected: number;
  /** Retries the retry budget refused since the start (also in the counters as retriesDenied). */
  readonly retryBudgetExhausted: number;
}

export interface ClientStats {
  readonly agent: string;
  readonly connected: boolean;
  readonly stalenessMs: number;
  readonly sync: Readonly<SyncStats>;
  readonly services: Readonly<Record<string, ServiceStats>>;
  /** Outcome reports sent to the agent (undefined when reporting is off). */
  readonly observations: Readonly<ObservationStats> | undefined;
}

/**
 * The application's view of the mesh: a copy of the agent's routing tables kept current from its
 * event stream, picks that never wait on I/O, calls and HTTP requests with failover, and a
 * circuit breaker per endpoint. Create it with connect() (waits for the first sync) or
 * createClient() + ready().
 */
export class VigilClient extends EventEmitter<ClientEvents> {
  /** The agent address this client follows. */
  readonly agent: string;
  /**
   * An undici dispatcher that sends requests for mesh services (`http://payments/...`) to a healthy
   * instance with failover, and everything else unchanged: pass it to `setGlobalDispatcher`, to
   * `undici.request(url, { dispatcher })`, or to any library that accepts one.
   */
  readonly dispatcher: Dispatcher;
  private readonly routesByService = new Map<string, ServiceRoutes>();
  private readonly counterByService = new Map<string, ServiceCounters>();
  private readonly engine: FailoverEngine;
  private readonly sync: AgentSync;
  private readonly options: ClientOptions;
  private readonly base: Dispatcher;
  private readonly ownsBase: boolean;
  private readonly breakerOptions: BreakerOptions;
  private readonly random: Random;
  private readonly now: () => number;
  private readonly reporter: ObservationReporter | undefined;
  private readonly budgets = new Map<string, RetryBudget>();
  private readonly limits: BreakerLimits;
  private connected = false;
  private synced = false;
  private staleSince = 0;
  private closed = false;
  private readyWaiters: { resolve: () => void; reject: (e: unknown) => void; failFast: boolean }[] = [];
  private readonly perService = new Map<string, CallOptions<unknown>>();
  private readonly meshHosts: MeshHosts;
  /** The last error of the agent connection (for error messages). */
  private lastError: unknown;

  constructor(options: ClientOptions = {}) {
    super();
    this.options = options;
    this.agent = normalizeAgent(options.agent ?? process.env.VIGIL_HTTP_ADDR ?? DEFAULT_AGENT_ADDR);
    this.random = options.random ?? Math.random;
    this.now = options.now ?? (() => performance.now());
    this.breakerOptions = { ...DEFAULT_BREAKER_OPTIONS, ...options.breaker };
    this.limits = { ...BREAKER_LIMITS, ...options.breakerLimits };
    const token = options.token ?? process.env.VIGIL_HTTP_TOKEN ?? process.env.VIGIL_ACL_TOKEN;
    const reporter = options.observations === false ? undefined : new ObservationReporter(this.agent, token);
    this.reporter = reporter;
    const budgetOptions = options.retryBudget;
    const host = {
      routes: (service: string) => this.routesByService.get(service),
      knownServices: () => [...this.routesByService.keys()],
      counters: (service: string) => this.counters(service),
      random: this.random,
      now: this.now,
      budget:
        budgetOptions === false
          ? undefined
          : (service: string) => {
              let b = this.budgets.get(service);
              if (b === undefined) {
                b = new RetryBudget(budgetOptions);
                this.budgets.set(service, b);
              }
              return b;
            },
      observe: reporter && ((...args: Parameters<ObservationReporter['record']>) => reporter.record(...args)),
    };
    this.engine = new FailoverEngine(host, options.defaults ?? {});
    this.meshHosts = new MeshHosts(options.meshHosts);
    this.ownsBase = options.dispatcher === undefined;
    this.base = options.dispatcher ?? new Agent();
    this.dispatcher = this.base.compose(meshInterceptor(this.meshHost(), options.http));
    this.sync = new AgentSync(
      {
        agent: this.agent,
        token,
        reconnectInitialMs: options.reconnect?.initialMs ?? RECONNECT_INITIAL_MS,
        reconnectMaxMs: options.reconnect?.maxMs ?? RECONNECT_MAX_MS,
        streamIdleMs: options.streamIdleMs ?? STREAM_IDLE_MS,
        readTimeoutMs: ROUTES_READ_TIMEOUT_MS,
      },
      {
        replace: (tables, index) => this.replace(tables, index),
        change: (change, index) => this.apply(change, index),
        member: (data) => this.emit('member', data),
        connected: () => this.onConnected(),
        disconnected: (error) => this.onDisconnected(error),
      },
    );
    this.sync.start();
  }

  /**
   * Resolves once the first routing tables have arrived. With `timeoutMs`, rejects with
   * AgentUnavailableError if they have not by then, or at once with AgentResponseError when the
   * agent answers with a 4xx (a token or version problem); the client keeps trying in the
   * background either way.
   */
  ready(options: { readonly timeoutMs?: number } = {}): Promise<void> {
    if (this.closed) return Promise.reject(new ClientClosedError());
    if (this.synced) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const waiter = {
        failFast: options.timeoutMs !== undefined,
        resolve: () => {
          if (timer !== undefined) clearTimeout(timer);
          resolve();
        },
        reject: (e: unknown) => {
          if (timer !== undefined) clearTimeout(timer);
          reject(e);
        },
      };
      this.readyWaiters.push(waiter);
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.readyWaiters = this.readyWaiters.filter((w) => w !== waiter);
          reject(this.unavailableError());
        }, options.timeoutMs);
      }
    });
  }

  /**
   * Picks one endpoint of `service`: weighted by share among active endpoints whose breaker is not
   * open, else standby ones (best tier first), else demoted ones; a zone, if given, is preferred
   * within each. Pure and in memory. Throws UnknownServiceError or NoHealthyEndpointError.
   */
  resolve(service: string, options?: ResolveOptions): Endpoint {
    const routes = this.routesByService.get(service);
    if (routes === undefined) throw new UnknownServiceError(service, [...this.routesByService.keys()]);
    const i = routes.pick(this.random, options?.zone ?? this.options.zone, undefined);
    if (i < 0) throw new NoHealthyEndpointError(service, routes.endpoints.length);
    return routes.endpoints[i]!;
  }

  /** The service's endpoints in table order (active, standby, demoted), or undefined. */
  endpoints(service: string): readonly Endpoint[] | undefined {
    return this.routesByService.get(service)?.endpoints;
  }

  /** The service's routing table as the agent sent it, or undefined. */
  table(service: string): RouteTable | undefined {
    return this.routesByService.get(service)?.table;
  }

  /**
   * The elected leader of a `"Policy": "leader"` service, with its fencing token (the highest
   * committed token every agent agrees on), or undefined while none is known.
   */
  leader(service: string): (RouteLeader & { readonly endpoint: Endpoint | undefined }) | undefined {
    const routes = this.routesByService.get(service);
    const leader = routes?.table.leader;
    if (leader === undefined) return undefined;
    const endpoint = routes!.endpoints.find((e) => e.key === `${leader.node}/${leader.id}`);
    return { ...leader, endpoint };
  }

  /**
   * Stands for election group `name` (a lock) through the local agent: `onElected` runs when this
   * application may act, with the token and a signal that aborts when it must stop; `onDemoted`
   * when it must stop. See elect.ts for the deadline rule.
   */
  elect(name: string, handlers: ElectHandlers): Election {
    if (this.closed) throw new ClientClosedError();
    return startElection(
      this.agent,
      this.options.token ?? process.env.VIGIL_HTTP_TOKEN ?? process.env.VIGIL_ACL_TOKEN,
      name,
      handlers,
      this.now,
    );
  }

  /** The services in the routing table. */
  services(): string[] {
    return [...this.routesByService.keys()];
  }

  /** The agent's change index the tables are at. */
  index(): number {
    return this.sync.stats.index;
  }

  /**
   * Runs `fn` against one endpoint after another until it succeeds, with retries that skip hosts
   * already tried in this call, per-attempt timeout, deadline, abort signal, bulkhead and
   * fallback; every outcome feeds the endpoint's breaker.
   */
  call<T>(service: string, fn: AttemptFn<T>, options?: CallOptions<T>): Promise<T> {
    if (this.closed) return Promise.reject(new ClientClosedError());
    const perService = this.serviceDefaults(service);
    const merged = perService === undefined ? options : { ...perService, ...options };
    return this.engine.run(service, withSignal(fn), withZone(merged as CallOptions<T> | undefined, this.options.zone));
  }

  /**
   * fetch() for mesh URLs: `http://payments/charge` reaches a healthy `payments` instance, failing
   * over like call() (see meshInterceptor for the retry rules). Other URLs are fetched normally.
   * Per-request failover options go in `init.mesh`.
   */
  fetch(input: string | URL, init?: MeshRequestInit): Promise<Response> {
    if (this.closed) return Promise.reject(new ClientClosedError());
    // A service the table lacks is named as such here, not wrapped in fetch's "fetch failed".
    const hostname = typeof input === 'string' ? URL.parse(input)?.hostname : input.hostname;
    if (hostname !== undefined && this.meshHosts.takes(hostname) && !this.routesByService.has(hostname)) {
      return Promise.reject(new UnknownServiceError(hostname, [...this.routesByService.keys()]));
    }
    let dispatcher = this.dispatcher;
    if (init?.mesh !== undefined) {
      dispatcher = this.base.compose(meshInterceptor(this.meshHost(), { ...this.options.http, ...init.mesh }));
    }
    return undiciFetch(input, { ...init, dispatcher } as unknown as Parameters<
      typeof undiciFetch
    >[1]) as unknown as Promise<Response>;
  }

  /** Milliseconds since the tables were last known current: 0 while following the agent. */
  staleness(): number {
    if (!this.synced) return Number.POSITIVE_INFINITY;
    if (this.connected) return 0;
    return Math.max(0, this.now() - this.staleSince);
  }

  /** Breaker state per endpoint and counters per service, plus the agent connection. */
  stats(): ClientStats {
    const now = this.now();
    const services: Record<string, ServiceStats> = {};
    for (const [name, routes] of this.routesByService) {
      const endpoints = routes.endpoints.map((e, i) => ({
        key: e.key,
        origin: e.origin,
        zone: e.zone,
        tier: e.tier,
        routeState: e.state,
        share: e.share,
        ...routes.breakers[i]!.snapshot(now),
      }));
      services[name] = {
        ...this.counters(name),
        policy: routes.table.policy,
        panic: routes.table.panic,
        endpoints,
        bulkheads: this.engine.bulkheadStats(name),
        ejected: endpoints.filter((e) => e.state !== 'closed').length,
        retryBudgetExhausted: this.counters(name).retriesDenied,
      };
    }
    return {
      agent: this.agent,
      connected: this.connected,
      stalenessMs: this.staleness(),
      sync: { ...this.sync.stats },
      services,
      observations: this.reporter && { ...this.reporter.stats },
    };
  }

  /** Stops following the agent and closes the connections this client opened. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w.reject(new ClientClosedError());
    await this.sync.stop();
    await this.reporter?.close();
    if (this.ownsBase) await this.base.close();
  }

  private meshHost() {
    return {
      serviceForHost: (hostname: string) => (this.meshHosts.takes(hostname) ? hostname : undefined),
      fencingToken: (service: string, endpoint: Endpoint) => {
        const leader = this.routesByService.get(service)?.table.leader;
        return leader !== undefined && endpoint.key === `${leader.node}/${leader.id}` ? leader.token : undefined;
      },
      run: <T>(service: string, fn: RawAttemptFn<T>, opts: EngineCall<T>) => {
        const perService = this.serviceDefaults(service);
        const merged = perService === undefined ? opts : { ...perService, ...opts };
        return this.engine.run(service, fn, withZone(merged as EngineCall<T>, this.options.zone));
      },
    };
  }

  private serviceDefaults(service: string): CallOptions<unknown> | undefined {
    const conf = this.options.services?.[service];
    if (conf === undefined) return undefined;
    let d = this.perService.get(service);
    if (d === undefined) {
      const { breaker: _breaker, ...rest } = conf;
      d = { ...this.options.defaults, ...rest };
      this.perService.set(service, d);
    }
    return d;
  }

  private counters(service: string): ServiceCounters {
    let c = this.counterByService.get(service);
    if (c === undefined) {
      c = {
        calls: 0,
        successes: 0,
        failures: 0,
        attempts: 0,
        retries: 0,
        fallbacks: 0,
        rejected: 0,
        timeouts: 0,
        deadlines: 0,
        retriesDenied: 0,
      };
      this.counterByService.set(service, c);
    }
    return c;
  }

  private breakerFor(service: string): BreakerOptions {
    const own = this.options.services?.[service]?.breaker;
    return own === undefined ? this.breakerOptions : { ...this.breakerOptions, ...own };
  }

  private replace(tables: readonly RouteTable[], index: number): void {
    const seen = new Set<string>();
    for (const table of tables) {
      seen.add(table.service);
      const existing = this.routesByService.get(table.service);
      if (existing !== undefined && JSON.stringify(existing.table) === JSON.stringify(table)) continue;
      this.apply({ change: existing === undefined ? 'added' : 'changed', service: table.service, table }, index);
    }
    for (const service of [...this.routesByService.keys()]) {
      if (!seen.has(service)) this.apply({ change: 'removed', service }, index);
    }
  }

  private apply(change: RouteChange, index: number): void {
    const existing = this.routesByService.get(change.service);
    if (change.change === 'removed' || change.table === undefined) {
      if (existing === undefined) return;
      this.routesByService.delete(change.service);
      this.emit('routes', { service: change.service, change: 'removed', table: undefined, index });
      return;
    }
    if (existing !== undefined) existing.update(change.table);
    else
      this.routesByService.set(
        change.service,
        new ServiceRoutes(change.table, this.breakerFor(change.service), this.now, this.limits),
      );
    this.emit('routes', {
      service: change.service,
      change: existing ? 'changed' : 'added',
      table: change.table,
      index,
    });
  }

  private onConnected(): void {
    const wasSynced = this.synced;
    const staleForMs = wasSynced && !this.connected ? this.now() - this.staleSince : 0;
    const changed = !this.connected;
    this.connected = true;
    this.synced = true;
    if (!wasSynced) {
      const waiters = this.readyWaiters;
      this.readyWaiters = [];
      for (const w of waiters) w.resolve();
    }
    if (changed) this.emit('fresh', { staleForMs, index: this.sync.stats.index });
  }

  private onDisconnected(error: unknown): void {
    this.lastError = error;
    if (!this.synced && error instanceof AgentResponseError && error.status < 500) {
      // The agent is there but refuses (token, version): waiting out the timeout would not help.
      const failing = this.readyWaiters.filter((w) => w.failFast);
      this.readyWaiters = this.readyWaiters.filter((w) => !w.failFast);
      for (const w of failing) w.reject(error);
    }
    if (!this.connected) return;
    this.connected = false;
    this.staleSince = this.now();
    this.emit('stale', { error, since: this.staleSince });
  }

  private unavailableError(): Error {
    const last = this.lastError;
    if (last instanceof AgentResponseError) return last;
    return new AgentUnavailableError(this.agent, last);
  }
}

export interface MeshRequestInit extends RequestInit {
  /** Failover options for this request (override the client's `http` options). */
  readonly mesh?: FetchOptions;
}

/** Starts a client without waiting: it syncs in the background; use ready() or the events. */
export function createClient(options?: ClientOptions): VigilClient {
  return new VigilClient(options);
}

/**
 * Starts a client and resolves once it holds the agent's routing tables. If no agent answers
 * within `connectTimeoutMs` (default 2s) it rejects with AgentUnavailableError, which says how to
 * start the agent or point the SDK at it (an agent that answers with an error rejects with
 * AgentResponseError); the half-made client is closed.
 */
export async function connect(options?: ClientOptions): Promise<VigilClient> {
  const client = new VigilClient(options);
  try {
    await client.ready({ timeoutMs: options?.connectTimeoutMs ?? CONNECT_TIMEOUT_MS });
    return client;
  } catch (err) {
    await client.close();
    throw err;
  }
}

function normalizeAgent(raw: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `http://${raw}`;
  const url = new URL(withScheme);
  return url.origin;
}

function withZone<T>(opts: CallOptions<T> | undefined, zone: string | undefined): CallOptions<T> | undefined {
  if (zone === undefined || opts?.zone !== undefined) return opts;
  return { ...opts, zone };
}
