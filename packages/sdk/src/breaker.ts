import { BREAKER } from './defaults.ts';

/*
 * Why not cockatiel's CircuitBreakerPolicy here: the SDK needs one breaker per endpoint inside the
 * load balancer, and the picker must ask "may this endpoint take a call now?" synchronously and
 * without side effects (resolve() is a pure in-memory pick), then reserve a half-open trial slot
 * separately when a call really goes there. cockatiel's policy only answers by running a function
 * through execute(), lets one half-open call through, and has no Envoy-style ejection count that
 * grows with repeated ejections and decays while the host stays healthy. So this module is ours;
 * cockatiel still provides the bulkhead and the backoff (see failover.ts).
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Open after this many failures in a row. */
  readonly consecutiveFailures: number;
  /** Open when failures / calls in the window reach this (0..1) ... */
  readonly failureRateThreshold: number;
  /** ... once the window holds at least this many calls. */
  readonly minimumRequests: number;
  /** The failure-rate window (10 buckets). */
  readonly windowMs: number;
  /** Open period = base × ejection count, capped at maxEjectionMs (Envoy). */
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  /** Each period of this length spent closed takes one off the ejection count. */
  readonly ejectionDecayMs: number;
  /** Trial calls admitted at once while half-open. */
  readonly halfOpenMaxCalls: number;
  /** Successful trials that close the breaker. */
  readonly halfOpenSuccesses: number;
}

export const DEFAULT_BREAKER_OPTIONS: BreakerOptions = BREAKER;

/** Orders trips across breakers: the earliest-tripped are the ones a max-ejection share honours. */
let tripSequence = 0;

const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;
const BUCKETS = 10;

/**
 * A permit says which breaker generation a call was admitted under and whether it holds a
 * half-open trial slot; encoded as a number (generation × 2 + trial) so admitting allocates
 * nothing. A result from an older generation does not move the state: calls that were in flight
 * when the breaker opened cannot close or re-trip it.
 */
export type Permit = number;
export const NO_PERMIT: Permit = -1;

function permitGeneration(permit: Permit): number {
  return (permit - (permit & 1)) / 2;
}

export interface BreakerSnapshot {
  readonly state: BreakerState;
  /** How many times in a row (less the healthy decay) this endpoint was ejected. */
  readonly ejections: number;
  /** Total trips since the breaker was created. */
  readonly trips: number;
  /** Milliseconds until an open breaker turns half-open (0 otherwise). */
  readonly openForMs: number;
  readonly consecutiveFailures: number;
  /** Calls and failures in the current failure-rate window. */
  readonly windowCalls: number;
  readonly windowFailures: number;
  readonly halfOpenInFlight: number;
  readonly successes: number;
  readonly failures: number;
}

/**
 * A circuit breaker for one endpoint: closed → open on N consecutive failures or on a failure rate
 * over a window with a minimum volume; open for base × ejections (capped); then half-open, where
 * exactly `halfOpenMaxCalls` trial calls may run at once; `halfOpenSuccesses` successes close it
 * and any trial failure reopens it with a longer ejection. Time is passed in by the caller
 * (monotonic milliseconds), which keeps the breaker deterministic under test.
 */
export class EndpointBreaker {
  private readonly opts: BreakerOptions;
  private code = CLOSED;
  private generation = 0;
  private openUntil = 0;
  private ejectionCount = 0;
  private closedSince = 0;
  private tripCount = 0;
  private consecutive = 0;
  private trialsInFlight = 0;
  private trialSuccesses = 0;
  private readonly bucketMs: number;
  private readonly bucketEpoch = new Float64Array(BUCKETS).fill(-1);
  private readonly bucketCalls = new Uint32Array(BUCKETS);
  private readonly bucketFailures = new Uint32Array(BUCKETS);
  private okTotal = 0;
  private failTotal = 0;
  /** When this breaker last tripped from closed, in trip order across all breakers. */
  tripOrder = 0;
  /** Called with the new state on every transition (the owner counts non-closed breakers). */
  onTransition: ((from: BreakerState, to: BreakerState) => void) | undefined;

  constructor(opts: BreakerOptions = DEFAULT_BREAKER_OPTIONS, now = 0) {
    this.opts = opts;
    this.bucketMs = Math.max(1, opts.windowMs / BUCKETS);
    this.closedSince = now;
  }

  /** The state at `now` (an open breaker whose period is over reads as half-open). */
  state(now: number): BreakerState {
    if (this.code === OPEN && now >= this.openUntil) this.toHalfOpen();
    return this.code === CLOSED ? 'closed' : this.code === OPEN ? 'open' : 'half-open';
  }

  /** True when the breaker is anything but closed (cheap; no clock needed). */
  get tripped(): boolean {
    return this.code !== CLOSED;
  }

  /** May a call go to this endpoint now? Pure: reserves nothing. */
  usable(now: number): boolean {
    if (this.code === CLOSED) return true;
    if (this.code === OPEN) {
      if (now < this.openUntil) return false;
      this.toHalfOpen();
    }
    return this.trialsInFlight < this.opts.halfOpenMaxCalls;
  }

  /** Admits a call: a normal permit when closed, a trial slot when half-open, or NO_PERMIT. */
  acquire(now: number): Permit {
    if (this.code === CLOSED) return this.generation * 2;
    if (this.code === OPEN) {
      if (now < this.openUntil) return NO_PERMIT;
      this.toHalfOpen();
    }
    if (this.trialsInFlight >= this.opts.halfOpenMaxCalls) return NO_PERMIT;
    this.trialsInFlight++;
    return this.generation * 2 + 1;
  }

  /**
   * A permit for a call the breaker would refuse, sent anyway because the service's ejection limits
   * or panic mode overrule it: its outcome moves nothing (the breaker is not closed).
   */
  bypass(): Permit {
    return this.generation * 2;
  }

  success(permit: Permit, now: number): void {
    if (permit === NO_PERMIT) return;
    this.okTotal++;
    const current = permitGeneration(permit) === this.generation;
    if ((permit & 1) === 1) {
      if (!current || this.code !== HALF_OPEN) return;
      this.trialsInFlight--;
      if (++this.trialSuccesses >= this.opts.halfOpenSuccesses) this.close(now);
      return;
    }
    if (this.code !== CLOSED) return;
    this.consecutive = 0;
    this.record(now, false);
  }

  failure(permit: Permit, now: number): void {
    if (permit === NO_PERMIT) return;
    this.failTotal++;
    const current = permitGeneration(permit) === this.generation;
    if ((permit & 1) === 1) {
      if (current && this.code === HALF_OPEN) this.open(now);
      return;
    }
    if (this.code !== CLOSED) return;
    this.consecutive++;
    this.record(now, true);
    if (this.consecutive >= this.opts.consecutiveFailures) {
      this.open(now);
      return;
    }
    const { calls, failures } = this.window(now);
    if (calls >= this.opts.minimumRequests && failures / calls >= this.opts.failureRateThreshold) this.open(now);
  }

  /** The call ended without a verdict on the endpoint (the caller aborted): frees a trial slot. */
  release(permit: Permit): void {
    if (permit === NO_PERMIT || (permit & 1) === 0) return;
    if (permitGeneration(permit) === this.generation && this.code === HALF_OPEN) this.trialsInFlight--;
  }

  snapshot(now: number): BreakerSnapshot {
    const state = this.state(now);
    const { calls, failures } = this.window(now);
    return {
      state,
      ejections: this.ejectionCount,
      trips: this.tripCount,
      openForMs: state === 'open' ? Math.max(0, Math.round(this.openUntil - now)) : 0,
      consecutiveFailures: this.consecutive,
      windowCalls: calls,
      windowFailures: failures,
      halfOpenInFlight: this.code === HALF_OPEN ? this.trialsInFlight : 0,
      successes: this.okTotal,
      failures: this.failTotal,
    };
  }

  private open(now: number): void {
    const from = this.code;
    if (from === CLOSED) {
      // Envoy: the multiplier drops by one for each interval the host stayed healthy.
      const healthyPeriods = Math.floor((now - this.closedSince) / this.opts.ejectionDecayMs);
      this.ejectionCount = Math.max(0, this.ejectionCount - healthyPeriods);
      this.tripOrder = ++tripSequence;
    }
    this.ejectionCount++;
    this.tripCount++;
    this.code = OPEN;
    this.generation++;
    this.openUntil = now + Math.min(this.opts.baseEjectionMs * this.ejectionCount, this.opts.maxEjectionMs);
    this.trialsInFlight = 0;
    this.trialSuccesses = 0;
    this.notify(from, OPEN);
  }

  private toHalfOpen(): void {
    this.code = HALF_OPEN;
    this.generation++;
    this.trialsInFlight = 0;
    this.trialSuccesses = 0;
    this.notify(OPEN, HALF_OPEN);
  }

  private close(now: number): void {
    const from = this.code;
    this.code = CLOSED;
    this.generation++;
    this.closedSince = now;
    this.consecutive = 0;
    this.trialsInFlight = 0;
    this.trialSuccesses = 0;
    this.bucketEpoch.fill(-1);
    this.notify(from, CLOSED);
  }

  private record(now: number, failed: boolean): void {
    const epoch = Math.floor(now / this.bucketMs);
    const i = epoch % BUCKETS;
    if (this.bucketEpoch[i] !== epoch) {
      this.bucketEpoch[i] = epoch;
      this.bucketCalls[i] = 0;
      this.bucketFailures[i] = 0;
    }
    this.bucketCalls[i]!++;
    if (failed) this.bucketFailures[i]!++;
  }

  private window(now: number): { calls: number; failures: number } {
    const epoch = Math.floor(now / this.bucketMs);
    let calls = 0;
    let failures = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const e = this.bucketEpoch[i]!;
      if (e > epoch - BUCKETS && e <= epoch) {
        calls += this.bucketCalls[i]!;
        failures += this.bucketFailures[i]!;
      }
    }
    return { calls, failures };
  }

  private notify(from: number, to: number): void {
    const name = (c: number): BreakerState => (c === CLOSED ? 'closed' : c === OPEN ? 'open' : 'half-open');
    this.onTransition?.(name(from), name(to));
  }
}
