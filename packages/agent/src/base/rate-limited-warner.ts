import type { Logger } from '../log.ts';

/**
 * At most one warning per kind per interval; the rest are counted and the count goes out with the
 * next warning. Hostile or broken peers can send thousands of bad packets a second, and a log
 * line each would be the attack.
 */
export class RateLimitedWarner<K> {
  private readonly last = new Map<K, { at: number; suppressed: number }>();
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(intervalMs: number, now: () => number) {
    this.intervalMs = intervalMs;
    this.now = now;
  }

  /** Logs `msg` at warn with `fields` plus `suppressedSinceLast`, unless `kind` warned recently. */
  warn(log: Logger, kind: K, fields: Record<string, unknown>, msg: string): boolean {
    const now = this.now();
    const last = this.last.get(kind);
    if (last && now - last.at < this.intervalMs) {
      last.suppressed++;
      return false;
    }
    log.warn({ ...fields, suppressedSinceLast: last?.suppressed ?? 0 }, msg);
    this.last.set(kind, { at: now, suppressed: 0 });
    return true;
  }
}
