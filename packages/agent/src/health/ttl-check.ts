import { type Runtime, realRuntime, type TimerHandle } from '../runtime/index.ts';
import type { CheckResult } from './status.ts';

/**
 * The clock of a TTL check: the application reports pass, warn or fail, and each report restarts
 * the clock. When the TTL runs out before the next report, the check turns critical.
 */
export class TtlClock {
  private timer: TimerHandle | undefined;
  private readonly ttlMs: number;
  private readonly onExpire: () => void;
  private readonly runtime: Runtime;

  constructor(ttlMs: number, onExpire: () => void, runtime: Runtime = realRuntime()) {
    this.ttlMs = ttlMs;
    this.onExpire = onExpire;
    this.runtime = runtime;
  }

  /**
   * Restarts the clock; returns when it will expire (wall ms: it is persisted with the state and
   * read back by the next process).
   */
  reset(now = this.runtime.clock.wallNow()): number {
    this.arm(this.ttlMs);
    return now + this.ttlMs;
  }

  /** After a restart: expire at a deadline saved before (at once if it has passed). */
  resume(expiresAt: number, now = this.runtime.clock.wallNow()): void {
    this.arm(Math.max(0, expiresAt - now));
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer?.cancel();
    this.timer = this.runtime.timers.after(ms, () => {
      this.timer = undefined;
      this.onExpire();
    });
  }
}

/** The state a TTL check takes when its clock runs out (Consul keeps the last output after it). */
export function ttlExpired(lastOutput: string): CheckResult {
  return {
    status: 'critical',
    output: lastOutput ? `TTL expired (last output before timeout follows): ${lastOutput}` : 'TTL expired',
  };
}
