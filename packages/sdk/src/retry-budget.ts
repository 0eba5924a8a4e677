import { RETRY_BUDGET } from './defaults.ts';

export interface RetryBudgetOptions {
  /** Retries allowed per request in the window (0.2 = retries add at most 20%). */
  readonly ratio: number;
  /** Retries always allowed per second of window, whatever the request count. */
  readonly minPerSecond: number;
  readonly windowMs: number;
}

const BUCKETS = 10;

/**
 * A retry budget per service (Finagle, Linkerd): every call deposits `ratio` of a retry, and a
 * retry is allowed only while retries in the window stay under ratio × calls + a floor. Counted in
 * 10 buckets over the window; time comes from the caller (monotonic ms). The engine takes a retry
 * before an attempt that could be retried (so the attempt knows whether it may ask for one: the
 * HTTP path then returns a 5xx instead of raising it) and refunds it when the attempt succeeds.
 */
export class RetryBudget {
  private readonly opts: RetryBudgetOptions;
  private readonly bucketMs: number;
  private readonly epochs = new Float64Array(BUCKETS).fill(-1);
  private readonly calls = new Uint32Array(BUCKETS);
  private readonly retries = new Uint32Array(BUCKETS);

  constructor(opts: Partial<RetryBudgetOptions> = {}) {
    this.opts = { ...RETRY_BUDGET, ...opts };
    this.bucketMs = Math.max(1, this.opts.windowMs / BUCKETS);
  }

  /** A call started (its first attempt). */
  deposit(now: number): void {
    this.calls[this.bucket(now)]!++;
  }

  /** May this call retry now? Takes the retry from the budget when it may. */
  tryWithdraw(now: number): boolean {
    let calls = 0;
    let retries = 0;
    const epoch = Math.floor(now / this.bucketMs);
    for (let i = 0; i < BUCKETS; i++) {
      const e = this.epochs[i]!;
      if (e > epoch - BUCKETS && e <= epoch) {
        calls += this.calls[i]!;
        retries += this.retries[i]!;
      }
    }
    const allowed = this.opts.ratio * calls + (this.opts.minPerSecond * this.opts.windowMs) / 1000;
    if (retries + 1 > allowed) return false;
    this.retries[this.bucket(now)]!++;
    return true;
  }

  /** Gives back a retry taken by tryWithdraw that was not needed after all. */
  refund(now: number): void {
    const i = this.bucket(now);
    if (this.retries[i]! > 0) {
      this.retries[i]!--;
      return;
    }
    for (let k = 0; k < BUCKETS; k++) {
      if (this.retries[k]! > 0) {
        this.retries[k]!--;
        return;
      }
    }
  }

  private bucket(now: number): number {
    const epoch = Math.floor(now / this.bucketMs);
    const i = epoch % BUCKETS;
    if (this.epochs[i] !== epoch) {
      this.epochs[i] = epoch;
      this.calls[i] = 0;
      this.retries[i] = 0;
    }
    return i;
  }
}
