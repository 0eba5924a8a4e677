import { BulkheadPolicy, ExponentialBackoff, fullJitterGenerator, type IBackoff } from 'cockatiel';
import { NO_PERMIT } from './breaker.ts';
import { RETRIES, RETRY_BASE_MS, RETRY_MAX_MS } from './defaults.ts';
import {
  AttemptTimeoutError,
  BulkheadRejectedError,
  DeadlineExceededError,
  NoHealthyEndpointError,
  UnknownServiceError,
} from './errors.ts';
import { classifyFailure, type OutcomeClass } from './observations.ts';
import type { RetryBudget } from './retry-budget.ts';
import type { Endpoint, Random, ServiceRoutes } from './service-routes.ts';

/** What one attempt produced: a result, or an error. */
export type Outcome<T> =
  | { readonly error: unknown; readonly result?: undefined }
  | { readonly result: T; readonly error?: undefined };

export interface BulkheadOptions {
  /** Calls of this service that may run at once. */
  readonly concurrency: number;
  /** Calls that may wait for a slot (default 0: reject at once). */
  readonly queue?: number;
}

export interface CallOptions<T> {
  /** Retries after the first attempt (default 2). Each goes to an endpoint not tried yet in this call, while one exists. */
  readonly retries?: number;
  /** Fully jittered exponential backoff between attempts (default base 25ms, cap 250ms, as Envoy). */
  readonly backoff?: { readonly baseMs?: number; readonly maxMs?: number };
  /** Time limit of each attempt; its signal is aborted and the attempt counts as a failure. */
  readonly timeoutMs?: number;
  /** Time limit of the whole call: bulkhead queueing, attempts and backoff. */
  readonly deadlineMs?: number;
  /** Aborts the call; the call rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Produces the answer when the call fails (not when the caller aborts it). */
  readonly fallback?: (error: unknown) => T | Promise<T>;
  /** A concurrency limit for this service; calls with the same limits share one bulkhead. */
  readonly bulkhead?: BulkheadOptions;
  /**
   * Is this outcome a failure? Failures count against the endpoint's breaker and are retried.
   * Default: every error is a failure, every result a success. When the last attempt's result is a
   * failure, call() returns that result (as Envoy returns the last 5xx); errors are thrown.
   */
  readonly retryOn?: (outcome: Outcome<T>, endpoint: Endpoint) => boolean;
  /** Prefer endpoints in this zone (within each tier). */
  readonly zone?: string;
}

export interface AttemptInfo {
  readonly service: string;
  /** 0 for the first attempt. */
  readonly attempt: number;
  /** Retries still allowed after this attempt (the deadline may still cut them short). */
  readonly retriesLeft: number;
  /**
   * Marks the attempt committed (for example, a response has started streaming to the caller): its
   * per-attempt timer stops, and a later failure is not retried (the deadline still applies).
   */
  commit(): void;
}

export type AttemptFn<T> = (endpoint: Endpoint, signal: AbortSignal, info: AttemptInfo) => Promise<T> | T;

/**
 * A light cancellation token for the engine's own plumbing. An AbortController (an EventTarget)
 * with its listeners costs microseconds and garbage per use, which showed up as the largest part
 * of the fetch path's overhead; this is a flag and a short listener list. Public APIs still take
 * and give AbortSignals (call() makes one per attempt for `fn`).
 */
export class Cancel {
  aborted = false;
  reason: unknown = undefined;
  private listeners: ((reason: unknown) => void)[] | undefined;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners) for (const l of listeners) l(reason);
  }

  add(listener: (reason: unknown) => void): void {
    if (this.listeners === undefined) this.listeners = [listener];
    else this.listeners.push(listener);
  }

  remove(listener: (reason: unknown) => void): void {
    const ls = this.listeners;
    if (ls === undefined) return;
    const i = ls.indexOf(listener);
    if (i >= 0) ls.splice(i, 1);
  }
}

/** The engine's attempt function: gets a Cancel rather than an AbortSignal (see Cancel). */
export type RawAttemptFn<T> = (endpoint: Endpoint, cancel: Cancel, info: AttemptInfo) => Promise<T> | T;

/** Adapts a public attempt function: gives it an AbortSignal that follows the attempt's Cancel. */
export function withSignal<T>(fn: AttemptFn<T>): RawAttemptFn<T> {
  return (endpoint, cancel, info) => {
    const ctl = new AbortController();
    cancel.add((reason) => ctl.abort(reason));
    return fn(endpoint, ctl.signal, info);
  };
}

/** How the engine treats an outcome: success, a failure to retry, or a failure that ends the call. */
export const SUCCESS = 0;
export const RETRY = 1;
export const FINAL = 2;
export type Verdict = typeof SUCCESS | typeof RETRY | typeof FINAL;

export interface EngineCall<T> extends CallOptions<T> {
  /** Internal: a three-way verdict (fetch uses it for idempotency rules); overrides retryOn. */
  readonly classify?: (outcome: Outcome<T>, endpoint: Endpoint, committed: boolean) => Verdict;
  /** Internal: the caller's cancellation as a Cancel (the HTTP path), besides `signal`. */
  readonly cancel?: Cancel;
}

export interface ServiceCounters {
  calls: number;
  successes: number;
  failures: number;
  attempts: number;
  retries: number;
  fallbacks: number;
  rejected: number;
  timeouts: number;
  deadlines: number;
  /** Retries the retry budget refused (the call ended with its last failure instead). */
  retriesDenied: number;
}

export interface EngineHost {
  routes(service: string): ServiceRoutes | undefined;
  knownServices(): string[];
  counters(service: string): ServiceCounters;
  readonly random: Random;
  readonly now: () => number;
  /** The service's retry budget; undefined when budgets are off. */
  budget?(service: string): RetryBudget | undefined;
  /** Every attempt's outcome against its endpoint (reported to the agent for outlier detection). */
  observe?(endpoint: Endpoint, outcome: OutcomeClass, latencyMs: number, breakerOpened: boolean): void;
}

/**
 * Runs calls with failover: bulkhead → deadline → attempts on endpoints picked afresh from the
 * current table (skipping endpoints tried in this call while others exist) with breakers fed by
 * every outcome, backoff between attempts, then fallback.
 *
 * cockatiel provides the bulkhead (BulkheadPolicy) and the backoff (ExponentialBackoff with full
 * jitter). Its RetryPolicy and TimeoutPolicy are not used: the retry loop has to choose a new host
 * per attempt and stop at a deadline, and the per-attempt timer has to tell an attempt timeout
 * from the call's deadline and from the caller's abort, and must be disarmed when fetch commits a
 * streaming response; composing those from cockatiel's wrappers costs more code (and allocations on
 * the fetch path) than the loop below.
 */
export class FailoverEngine {
  private readonly host: EngineHost;
  private readonly bulkheads = new Map<string, BulkheadPolicy>();
  private readonly defaults: CallOptions<unknown>;
  private readonly backoffs = new Map<string, ExponentialBackoff<unknown>>();

  constructor(host: EngineHost, defaults: CallOptions<unknown>) {
    this.host = host;
    this.defaults = defaults;
  }

  bulkheadStats(service: string): { concurrency: number; queue: number; running: number; queued: number }[] {
    const out = [];
    for (const [key, b] of this.bulkheads) {
      const [svc, c, q] = key.split('|');
      if (svc !== service) continue;
      const concurrency = Number(c);
      const queue = Number(q);
      out.push({ concurrency, queue, running: concurrency - b.executionSlots, queued: queue - b.queueSlots });
    }
    return out;
  }

  async run<T>(service: string, fn: RawAttemptFn<T>, options: EngineCall<T> | undefined): Promise<T> {
    const opts =
      options === undefined ? (this.defaults as EngineCall<T>) : { ...(this.defaults as EngineCall<T>), ...options };
    const counters = this.host.counters(service);
    counters.calls++;
    const callerSignal = opts.signal;
    const callerCancel = opts.cancel;
    if (callerSignal?.aborted) throw callerSignal.reason;
    if (callerCancel?.aborted) throw callerCancel.reason;
    const call = new Cancel();
    const onCallerAbort =
      callerSignal || callerCancel
        ? () => call.abort(callerSignal?.aborted ? callerSignal.reason : callerCancel?.reason)
        : undefined;
    if (callerSignal) callerSignal.addEventListener('abort', onCallerAbort!, { once: true });
    if (callerCancel) callerCancel.add(onCallerAbort!);
    const state: CallState = { attempts: 0, lastError: undefined };
    let deadlineError: DeadlineExceededError | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (opts.deadlineMs !== undefined) {
      timer = setTimeout(() => {
        deadlineError = new DeadlineExceededError(service, opts.deadlineMs!, state.attempts, state.lastError);
        call.abort(deadlineError);
      }, opts.deadlineMs);
    }
    try {
      let result: T;
      if (opts.bulkhead) {
        const bulkhead = this.bulkhead(service, opts.bulkhead);
        // cockatiel's bulkhead takes an AbortSignal to drop a queued call that was aborted.
        const ctl = new AbortController();
        call.add((reason) => ctl.abort(reason));
        result = await raceAbort(
          bulkhead.execute(() => this.attempts(service, fn, opts, call, state), ctl.signal),
          call,
        );
      } else {
        result = await this.attempts(service, fn, opts, call, state);
      }
      counters.successes++;
      return result;
    } catch (err) {
      if (callerSignal?.aborted) throw callerSignal.reason;
      if (callerCancel?.aborted) throw callerCancel.reason;
      let error = err;
      if (deadlineError !== undefined && call.aborted) {
        counters.deadlines++;
        error = deadlineError;
      } else if (isCockatielBulkheadRejection(err)) {
        counters.rejected++;
        error = new BulkheadRejectedError(service, opts.bulkhead!.concurrency, opts.bulkhead!.queue ?? 0);
      }
      counters.failures++;
      if (opts.fallback) {
        counters.fallbacks++;
        return opts.fallback(error);
      }
      throw error;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      if (callerSignal) callerSignal.removeEventListener('abort', onCallerAbort!);
      if (callerCancel) callerCancel.remove(onCallerAbort!);
    }
  }

  private async attempts<T>(
    service: string,
    fn: RawAttemptFn<T>,
    opts: EngineCall<T>,
    call: Cancel,
    state: CallState,
  ): Promise<T> {
    const host = this.host;
    const counters = host.counters(service);
    const retries = opts.retries ?? RETRIES;
    let tried: Endpoint[] | undefined;
    let backoff: IBackoff<unknown> | undefined;
    const budget = host.budget?.(service);
    budget?.deposit(host.now());
    for (let attempt = 0; ; attempt++) {
      if (call.aborted) throw call.reason;
      const routes = host.routes(service);
      if (routes === undefined) throw new UnknownServiceError(service, host.knownServices());
      let i = routes.pick(host.random, opts.zone, tried);
      if (i < 0 && tried !== undefined) i = routes.pick(host.random, opts.zone, undefined);
      if (i < 0) throw new NoHealthyEndpointError(service, routes.endpoints.length, state.lastError);
      const endpoint = routes.endpoints[i]!;
      const breaker = routes.breakers[i]!;
      let permit = breaker.acquire(host.now());
      // The pick returned an endpoint whose breaker refuses: the ejection limits or panic overrule it.
      if (permit === NO_PERMIT) permit = breaker.bypass();
      if (tried === undefined) tried = [endpoint];
      else tried.push(endpoint);
      state.attempts++;
      counters.attempts++;
      if (attempt > 0) counters.retries++;
      const started = host.now();
      // A retry is reserved from the budget before the attempt, so that the attempt knows whether
      // it may still ask for one (fetch answers with the 5xx itself when it may not).
      const mayRetry = retries - attempt > 0 && (budget?.tryWithdraw(started) ?? true);
      const budgetDenied = retries - attempt > 0 && !mayRetry;
      const run = await runAttempt(
        service,
        endpoint,
        fn,
        opts.timeoutMs,
        call,
        attempt,
        mayRetry ? retries - attempt : 0,
      );
      if (run.aborted) {
        breaker.release(permit);
        if (mayRetry) budget?.refund(host.now());
        throw call.reason;
      }
      if (run.timedOut) counters.timeouts++;
      const outcome = run.outcome as Outcome<T>;
      const verdict = verdictOf(opts, outcome, endpoint, run.committed);
      const ended = host.now();
      if (verdict === SUCCESS || verdict === FINAL) {
        if (mayRetry) budget?.refund(ended);
      }
      if (verdict === SUCCESS) {
        breaker.success(permit, ended);
        host.observe?.(endpoint, 'ok', ended - started, false);
        if (outcome.error !== undefined) throw outcome.error;
        return outcome.result as T;
      }
      const wasTripped = breaker.tripped;
      breaker.failure(permit, ended);
      host.observe?.(endpoint, classifyFailure(outcome), ended - started, !wasTripped && breaker.tripped);
      // A failure that would have been retried but for the budget (fetch saw retriesLeft 0 and
      // answered with the 5xx, so its verdict is already FINAL).
      if (budgetDenied) counters.retriesDenied++;
      const final = verdict === FINAL || attempt >= retries || budgetDenied;
      if (outcome.error !== undefined) {
        state.lastError = outcome.error;
        if (final) throw outcome.error;
      } else if (final) {
        return outcome.result as T;
      }
      backoff = backoff === undefined ? this.backoff(opts.backoff).next() : backoff.next(undefined);
      await sleep(backoff.duration, call);
    }
  }

  private backoff(options: CallOptions<unknown>['backoff']): ExponentialBackoff<unknown> {
    const base = options?.baseMs ?? RETRY_BASE_MS;
    const max = options?.maxMs ?? RETRY_MAX_MS;
    const key = `${base}|${max}`;
    let b = this.backoffs.get(key);
    if (!b) {
      b = new ExponentialBackoff({ generator: fullJitterGenerator, initialDelay: base, maxDelay: max });
      this.backoffs.set(key, b);
    }
    return b;
  }

  private bulkhead(service: string, limits: BulkheadOptions): BulkheadPolicy {
    const key = `${service}|${limits.concurrency}|${limits.queue ?? 0}`;
    let b = this.bulkheads.get(key);
    if (!b) {
      b = new BulkheadPolicy(limits.concurrency, limits.queue ?? 0);
      this.bulkheads.set(key, b);
    }
    return b;
  }
}

interface CallState {
  attempts: number;
  lastError: unknown;
}

interface AttemptRun {
  outcome: Outcome<unknown>;
  aborted: boolean;
  timedOut: boolean;
  committed: boolean;
}

function verdictOf<T>(opts: EngineCall<T>, outcome: Outcome<T>, endpoint: Endpoint, committed: boolean): Verdict {
  if (opts.classify) return opts.classify(outcome, endpoint, committed);
  const failed = opts.retryOn ? opts.retryOn(outcome, endpoint) : outcome.error !== undefined;
  if (!failed) return SUCCESS;
  return committed ? FINAL : RETRY;
}

/**
 * Runs one attempt under its own Cancel (aborted by the call's, and by the per-attempt timer).
 * Settles as soon as the attempt settles, times out or the call is aborted, without waiting for an
 * fn that ignores its cancellation.
 */
function runAttempt(
  service: string,
  endpoint: Endpoint,
  fn: RawAttemptFn<unknown>,
  timeoutMs: number | undefined,
  call: Cancel,
  attempt: number,
  retriesLeft: number,
): Promise<AttemptRun> {
  return new Promise<AttemptRun>((resolve) => {
    const cancel = new Cancel();
    const run: AttemptRun = {
      outcome: { error: undefined, result: undefined },
      aborted: false,
      timedOut: false,
      committed: false,
    };
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = () => {
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      call.remove(onAbort);
      resolve(run);
    };
    const onAbort = (reason: unknown) => {
      if (done) return;
      run.aborted = true;
      cancel.abort(reason);
      finish();
    };
    call.add(onAbort);
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        if (done) return;
        const error = new AttemptTimeoutError(service, endpoint.origin, timeoutMs);
        run.timedOut = true;
        run.outcome = { error };
        cancel.abort(error);
        finish();
      }, timeoutMs);
    }
    const info: AttemptInfo = {
      service,
      attempt,
      retriesLeft,
      commit() {
        run.committed = true;
        if (timer !== undefined) {
          clearTimeout(timer);
          timer = undefined;
        }
      },
    };
    let p: Promise<unknown> | unknown;
    try {
      p = fn(endpoint, cancel, info);
    } catch (error) {
      run.outcome = { error: error ?? new Error('attempt threw undefined') };
      finish();
      return;
    }
    Promise.resolve(p).then(
      (result) => {
        if (done) return;
        run.outcome = { result };
        finish();
      },
      (error: unknown) => {
        if (done) return;
        run.outcome = { error: error ?? new Error('attempt rejected with undefined') };
        finish();
      },
    );
  });
}

function sleep(ms: number, cancel: Cancel): Promise<void> {
  if (ms <= 0) return cancel.aborted ? Promise.reject(cancel.reason) : Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (reason: unknown) => {
      clearTimeout(timer);
      reject(reason);
    };
    const timer = setTimeout(() => {
      cancel.remove(onAbort);
      resolve();
    }, ms);
    cancel.add(onAbort);
  });
}

/**
 * cockatiel's bulkhead only notices an aborted signal when a queued call reaches the head of the
 * queue; the caller (or the deadline) must not wait that long.
 */
function raceAbort<T>(p: Promise<T>, cancel: Cancel): Promise<T> {
  if (cancel.aborted) {
    p.catch(() => {});
    return Promise.reject(cancel.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (reason: unknown) => reject(reason);
    cancel.add(onAbort);
    p.then(
      (v) => {
        cancel.remove(onAbort);
        resolve(v);
      },
      (e: unknown) => {
        cancel.remove(onAbort);
        reject(e);
      },
    );
  });
}

function isCockatielBulkheadRejection(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { isBulkheadRejectedError?: boolean }).isBulkheadRejectedError === true
  );
}
