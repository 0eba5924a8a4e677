import { realRuntime, type TimerHandle, type Timers } from '../runtime/index.ts';
import type { CheckResult } from './status.ts';

/**
 * The clock of a TTL check: the application reports pass, warn or fail, and each report restarts
 * the clock. When the TTL runs out before the next report, the check turns critical.
 */
export class TtlClock {
  private timer: TimerHandle | undefined;
  private readonly ttlMs: number;
  private readonly onExpire: () => void;
  private readonly timers: Timers;

  /** `timers` is the runtime seam: a deadline past Node's timer limit is re-armed, never early. */
  constructor(ttlMs: number, onExpire: () => void, timers: Timers = realRuntime().timers) {
    this.ttlMs = ttlMs;
    this.onExpire = onExpire;
    this.timers = timers;
  }

  /** Restarts the clock; returns when it will expire (epoch ms), to persist with the state. */
  reset(now = Date.now()): number {
    this.arm(this.ttlMs);
    return now + this.ttlMs;
  }

  /** After a restart: expire at a deadline saved before (at once if it has passed). */
  resume(expiresAt: number, now = Date.now()): void {
    this.arm(Math.max(0, expiresAt - now));
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer?.cancel();
    this.timer = this.timers.after(ms, () => {
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
