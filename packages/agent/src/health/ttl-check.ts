import type { CheckResult } from './status.ts';

/**
 * The clock of a TTL check: the application reports pass, warn or fail, and each report restarts
 * the clock. When the TTL runs out before the next report, the check turns critical.
 */
export class TtlClock {
  private timer: NodeJS.Timeout | undefined;
  private readonly ttlMs: number;
  private readonly onExpire: () => void;

  constructor(ttlMs: number, onExpire: () => void) {
    this.ttlMs = ttlMs;
    this.onExpire = onExpire;
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
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.onExpire();
    }, ms);
  }
}

/** The state a TTL check takes when its clock runs out (Consul keeps the last output after it). */
export function ttlExpired(lastOutput: string): CheckResult {
  return {
    status: 'critical',
    output: lastOutput ? `TTL expired (last output before timeout follows): ${lastOutput}` : 'TTL expired',
  };
}
