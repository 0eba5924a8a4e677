import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { FAILURE_STATUS_MIN, MAX_REPLAY_BODY_BYTES, RETRY_STATUSES } from './defaults.ts';
import { VigilError } from './errors.ts';
import {
  type AttemptInfo,
  type CallOptions,
  Cancel,
  type EngineCall,
  FINAL,
  type Outcome,
  type RawAttemptFn,
  RETRY,
  SUCCESS,
  type Verdict,
} from './failover.ts';
import type { Endpoint } from './service-routes.ts';

/** Options of the mesh-aware HTTP path (client.fetch and the dispatcher). */
export interface FetchOptions extends Omit<CallOptions<HttpResult>, 'fallback' | 'retryOn' | 'signal'> {
  /** Statuses that send the request to another instance (default 502, 503, 504). */
  readonly retryOnStatus?: readonly number[];
  /**
   * Retry POST, PATCH and other non-idempotent requests after any failure (default false: only
   * when the connection could not be made, so the request cannot have reached the server). A
   * request with an `Idempotency-Key` header counts as idempotent.
   */
  readonly retryNonIdempotent?: boolean;
  /** Streamed request bodies up to this size are buffered so they can be sent again (default 64 KiB). */
  readonly maxReplayBodyBytes?: number;
}

/** The result of one HTTP attempt as the failover engine sees it. */
export interface HttpResult {
  readonly status: number;
}

/** What the dispatcher needs from the client. */
export interface MeshHost {
  /**
   * The service a hostname names, if the mesh takes that host (mesh-hosts.ts), whether or not the
   * table has it: run() then fails with UnknownServiceError rather than letting DNS answer.
   */
  serviceForHost(hostname: string): string | undefined;
  /** The fencing token when `endpoint` is the elected leader of a `leader` service. */
  fencingToken?(service: string, endpoint: Endpoint): number | undefined;
  run<T>(service: string, fn: RawAttemptFn<T>, opts: EngineCall<T>): Promise<T>;
}

/** A response status that fetch retried on another instance (never seen by the caller unless retries ran out). */
export class RetriableStatusError extends VigilError {
  readonly status: number;
  constructor(status: number, endpoint: string) {
    super('VIGIL_RETRIABLE_STATUS', `${endpoint} answered ${status}`);
    this.status = status;
  }
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE', 'QUERY']);

/** Errors raised before a connection exists: the request cannot have reached any server. */
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

export function isConnectError(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECT_ERRORS.has(code)) return true;
  }
  return false;
}

/**
 * The undici interceptor that makes a hostname that names a mesh service (`http://payments/...`)
 * reach a healthy instance of it: each attempt picks an endpoint through the client (breakers,
 * tiers, zone), rewrites `origin` to it (keeping the original `Host` header), and the failover
 * engine retries on another instance after connection errors, per-attempt timeouts and retriable
 * statuses, under the same rules as client.call(). Other hosts (`localhost`, IP literals, dotted
 * names, excluded names: see MeshHosts) pass through untouched.
 *
 * Retries and request bodies (the same conventions as undici's retry interceptor and Envoy):
 * - Idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE, QUERY, or any request with an
 *   Idempotency-Key header) are retried after any failure before the response starts.
 * - Other methods (POST, PATCH, ...) are retried only when the connection could not be made
 *   (ECONNREFUSED, connect timeout, unreachable host), unless `retryNonIdempotent` is set. A reset
 *   after the request was written is not retried: the server may have acted on it.
 * - Once response headers have been passed to the caller the attempt is committed: the body
 *   streams through, and a later failure is reported, not retried.
 * - A string or buffer body is sent again as it is. A streamed body (fetch always streams its
 *   body) is buffered up to `maxReplayBodyBytes` (64 KiB) so it can be replayed; a longer one is
 *   sent once, to one instance, without retries.
 */
export function meshInterceptor(host: MeshHost, options: FetchOptions = {}): Dispatcher.DispatcherComposeInterceptor {
  const retryOnStatus = new Set(options.retryOnStatus ?? RETRY_STATUSES);
  // Only the options that are set, so that the client's defaults show through.
  const callOptions: CallOptions<HttpResult> = {};
  for (const key of ['retries', 'backoff', 'timeoutMs', 'deadlineMs', 'bulkhead', 'zone'] as const) {
    if (options[key] !== undefined) (callOptions as Record<string, unknown>)[key] = options[key];
  }
  const hostnames = new Map<string, string | null>();
  const hostnameOf = (origin: string | URL | undefined): string | undefined => {
    if (origin === undefined) return undefined;
    if (typeof origin !== 'string') return origin.hostname;
    let h = hostnames.get(origin);
    if (h === undefined) {
      try {
        h = new URL(origin).hostname;
      } catch {
        h = null;
      }
      if (hostnames.size > 1024) hostnames.clear();
      hostnames.set(origin, h);
    }
    return h ?? undefined;
  };
  return (dispatch) =>
    function meshDispatch(opts, handler) {
      const hostname = hostnameOf(opts.origin);
      const service = hostname === undefined ? undefined : host.serviceForHost(hostname);
      if (service === undefined) return dispatch(opts, handler);
      new MeshRequest(host, service, dispatch, opts, handler, options, callOptions, retryOnStatus).start();
      return true;
    };
}

/** The controller the caller's handler sees: it follows whichever attempt currently runs. */
class MeshController implements Dispatcher.DispatchController {
  target: Dispatcher.DispatchController | null = null;
  private readonly onAbort: (reason: Error) => void;
  private pausedByCaller = false;
  private abortReason: Error | null = null;
  /** The raw headers and trailers are those of the attempt that is passed through. */
  get rawHeaders(): Buffer[] | string[] | IncomingHttpHeaders | null | undefined {
    return this.target?.rawHeaders;
  }
  get rawTrailers(): Buffer[] | string[] | IncomingHttpHeaders | null | undefined {
    return this.target?.rawTrailers;
  }

  constructor(onAbort: (reason: Error) => void) {
    this.onAbort = onAbort;
  }

  get aborted(): boolean {
    return this.abortReason !== null;
  }
  get paused(): boolean {
    return this.pausedByCaller;
  }
  get reason(): Error | null {
    return this.abortReason;
  }
  abort(reason: Error): void {
    if (this.abortReason !== null) return;
    this.abortReason = reason ?? new DOMException('This operation was aborted', 'AbortError');
    this.onAbort(this.abortReason);
  }
  pause(): void {
    this.pausedByCaller = true;
    this.target?.pause();
  }
  resume(): void {
    this.pausedByCaller = false;
    this.target?.resume();
  }
}

class MeshRequest {
  private readonly host: MeshHost;
  private readonly service: string;
  private readonly dispatch: Dispatcher.Dispatch;
  private readonly opts: Dispatcher.DispatchOptions;
  readonly handler: Dispatcher.DispatchHandler;
  private readonly options: FetchOptions;
  private readonly baseCallOptions: CallOptions<HttpResult>;
  private readonly retryOnStatus: ReadonlySet<number>;
  readonly controller: MeshController;
  private readonly cancel = new Cancel();
  private body: Dispatcher.DispatchOptions['body'];
  private replayable = true;
  private retriable: boolean;
  private readonly headers: Dispatcher.DispatchOptions['headers'];
  /** An https:// mesh URL keeps its scheme: the instance is reached over TLS at its address. */
  private readonly tls: boolean;
  finished = false;

  constructor(
    host: MeshHost,
    service: string,
    dispatch: Dispatcher.Dispatch,
    opts: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
    options: FetchOptions,
    baseCallOptions: CallOptions<HttpResult>,
    retryOnStatus: ReadonlySet<number>,
  ) {
    this.baseCallOptions = baseCallOptions;
    this.host = host;
    this.service = service;
    this.dispatch = dispatch;
    this.opts = opts;
    this.handler = handler;
    this.options = options;
    this.retryOnStatus = retryOnStatus;
    this.body = opts.body;
    this.controller = new MeshController((reason) => this.cancel.abort(reason));
    this.tls = String(opts.origin).startsWith('https:');
    const authority = authorityOf(opts.origin);
    this.headers = authority === undefined ? opts.headers : withHost(opts.headers, authority);
    const method = (opts.method ?? 'GET').toUpperCase();
    this.retriable =
      options.retryNonIdempotent === true || IDEMPOTENT.has(method) || hasHeader(opts.headers, 'idempotency-key');
  }

  start(): void {
    // The caller gets its controller at once, so that an abort during body buffering, bulkhead
    // queueing or backoff reaches the call.
    this.handler.onRequestStart?.(this.controller, {});
    if (this.controller.aborted) {
      this.fail(this.controller.reason!);
      return;
    }
    const b = this.body;
    const needsBuffering = b != null && typeof b !== 'string' && !(b instanceof Uint8Array);
    const go = () =>
      this.host
        .run<HttpResult>(this.service, (ep, cancel, info) => this.attempt(ep, cancel, info), this.callOptions())
        .then(
          () => {},
          (err: unknown) => this.fail(err),
        );
    if (!needsBuffering) {
      go();
      return;
    }
    this.bufferBody().then(go, (err: unknown) => this.fail(err));
  }

  private callOptions(): EngineCall<HttpResult> {
    return {
      ...this.baseCallOptions,
      cancel: this.cancel,
      classify: (outcome, _endpoint, committed) => this.classify(outcome, committed),
    };
  }

  private classify(outcome: Outcome<HttpResult>, committed: boolean): Verdict {
    if (outcome.error === undefined) {
      return (outcome.result as HttpResult).status >= FAILURE_STATUS_MIN ? FINAL : SUCCESS;
    }
    if (committed || !this.replayable) return FINAL;
    if (this.retriable || isConnectError(outcome.error)) return RETRY;
    return FINAL;
  }

  private fail(err: unknown): void {
    if (this.finished) return;
    this.finished = true;
    const error = err instanceof Error ? err : new Error(String(err));
    this.handler.onResponseError?.(this.controller, error);
  }

  /** Reads a streamed body into memory up to the replay limit (see meshInterceptor). */
  private async bufferBody(): Promise<void> {
    const limit = this.options.maxReplayBodyBytes ?? MAX_REPLAY_BODY_BYTES;
    const source = this.body as unknown as AsyncIterable<unknown>;
    if (typeof source?.[Symbol.asyncIterator] !== 'function') {
      this.replayable = false; // FormData and other bodies undici serializes itself: sent once
      return;
    }
    const it = source[Symbol.asyncIterator]();
    const chunks: Buffer[] = [];
    let size = 0;
    for (;;) {
      const { value, done } = await it.next();
      if (done) {
        this.body = Buffer.concat(chunks, size);
        return;
      }
      const chunk = typeof value === 'string' ? Buffer.from(value) : Buffer.from(value as Uint8Array);
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) {
        this.replayable = false;
        this.body = prefixed(chunks, it) as unknown as Dispatcher.DispatchOptions['body'];
        return;
      }
    }
  }

  private attempt(endpoint: Endpoint, cancel: Cancel, info: AttemptInfo): Promise<HttpResult> {
    return new Promise<HttpResult>((resolve, reject) => {
      if (cancel.aborted) {
        reject(cancel.reason);
        return;
      }
      const attempt = new AttemptHandler(this, endpoint, info, resolve, reject, this.replayable && this.retriable);
      cancel.add((reason) => attempt.abort(reason as Error));
      try {
        const origin = this.tls ? `https://${endpoint.origin.slice(7)}` : endpoint.origin;
        const token = this.host.fencingToken?.(this.service, endpoint);
        const headers =
          token === undefined ? this.headers : withHeader(this.headers, FENCING_TOKEN_HEADER, String(token));
        this.dispatch({ ...this.opts, origin, headers, body: this.body }, attempt);
      } catch (err) {
        attempt.onResponseError(null, err as Error);
      }
    });
  }

  shouldRetryStatus(status: number, info: AttemptInfo, retriable: boolean): boolean {
    return retriable && info.retriesLeft > 0 && this.retryOnStatus.has(status);
  }
}

class AttemptHandler implements Dispatcher.DispatchHandler {
  private readonly req: MeshRequest;
  private readonly endpoint: Endpoint;
  private readonly info: AttemptInfo;
  private readonly resolve: (r: HttpResult) => void;
  private readonly reject: (e: unknown) => void;
  private readonly retriable: boolean;
  private controller: Dispatcher.DispatchController | null = null;
  private abortReason: Error | null = null;
  private discard = false;
  private committed = false;
  private status = 0;
  private settled = false;

  constructor(
    req: MeshRequest,
    endpoint: Endpoint,
    info: AttemptInfo,
    resolve: (r: HttpResult) => void,
    reject: (e: unknown) => void,
    retriable: boolean,
  ) {
    this.req = req;
    this.endpoint = endpoint;
    this.info = info;
    this.resolve = resolve;
    this.reject = reject;
    this.retriable = retriable;
  }

  abort(reason: Error): void {
    this.abortReason = reason;
    this.controller?.abort(reason);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason !== null) controller.abort(this.abortReason);
  }

  onRequestUpgrade(controller: Dispatcher.DispatchController): void {
    controller.abort(
      new VigilError('VIGIL_UPGRADE_UNSUPPORTED', 'connection upgrades are not supported through the mesh dispatcher'),
    );
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    if (statusCode < 200) return; // 1xx: informational, nothing to commit to
    this.status = statusCode;
    if (this.req.shouldRetryStatus(statusCode, this.info, this.retriable)) {
      // Read and drop this body (keeps the connection reusable), then try another instance.
      this.discard = true;
      return;
    }
    this.committed = true;
    this.info.commit();
    const req = this.req;
    req.controller.target = controller;
    if (req.controller.paused) controller.pause();
    req.handler.onResponseStart?.(req.controller, statusCode, headers, statusMessage);
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.discard) return;
    this.req.handler.onResponseData?.(this.req.controller, chunk);
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    if (this.settled) return;
    this.settled = true;
    if (this.discard) {
      this.reject(new RetriableStatusError(this.status, this.endpoint.origin));
      return;
    }
    const req = this.req;
    if (!req.finished) {
      req.finished = true;
      req.handler.onResponseEnd?.(req.controller, trailers);
    }
    this.resolve({ status: this.status });
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    if (this.settled) return;
    this.settled = true;
    const req = this.req;
    if (this.committed && !req.finished) {
      req.finished = true;
      req.handler.onResponseError?.(req.controller, error);
    }
    this.reject(this.discard ? new RetriableStatusError(this.status, this.endpoint.origin) : error);
  }
}

async function* prefixed(chunks: Buffer[], rest: AsyncIterator<unknown>): AsyncGenerator<Buffer> {
  yield* chunks;
  for (;;) {
    const { value, done } = await rest.next();
    if (done) return;
    yield typeof value === 'string' ? Buffer.from(value) : Buffer.from(value as Uint8Array);
  }
}

function authorityOf(origin: string | URL | undefined): string | undefined {
  if (origin === undefined) return undefined;
  if (typeof origin !== 'string') return origin.host;
  const start = origin.indexOf('//');
  if (start === -1) return undefined;
  const end = origin.indexOf('/', start + 2);
  return end === -1 ? origin.slice(start + 2) : origin.slice(start + 2, end);
}

function hasHeader(headers: Dispatcher.DispatchOptions['headers'], name: string): boolean {
  if (headers == null) return false;
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      return (headers as unknown as [string, string][]).some(([k]) => k.toLowerCase() === name);
    }
    for (let i = 0; i < headers.length; i += 2) if (String(headers[i]).toLowerCase() === name) return true;
    return false;
  }
  if (isIterableHeaders(headers)) {
    for (const [k] of headers as Iterable<[string, unknown]>) if (k.toLowerCase() === name) return true;
    return false;
  }
  for (const k in headers) if (k.toLowerCase() === name) return true;
  return false;
}

function isIterableHeaders(headers: object): boolean {
  const proto = Object.getPrototypeOf(headers);
  return (
    proto !== Object.prototype &&
    proto !== null &&
    typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function'
  );
}

/** The headers with `host` set to the service's authority, unless the caller set one. */
function withHost(headers: Dispatcher.DispatchOptions['headers'], host: string): Dispatcher.DispatchOptions['headers'] {
  return withHeader(headers, 'host', host);
}

/** The headers with `name` (lower case) added, unless the caller set it already. */
function withHeader(
  headers: Dispatcher.DispatchOptions['headers'],
  name: string,
  value: string,
): Dispatcher.DispatchOptions['headers'] {
  if (headers == null) return { [name]: value };
  if (hasHeader(headers, name)) return headers;
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0]))
      return [[name, value], ...(headers as unknown as [string, string][])] as never;
    return [name, value, ...headers] as never;
  }
  if (isIterableHeaders(headers)) {
    const out: Record<string, string | string[]> = { [name]: value };
    for (const [k, v] of headers as Iterable<[string, string]>) out[k] = v;
    return out;
  }
  return { [name]: value, ...(headers as Record<string, string | string[] | undefined>) } as never;
}

/** Sent on every mesh request to a `leader` service's elected instance: its fencing token. */
export const FENCING_TOKEN_HEADER = 'vigil-fencing-token';
