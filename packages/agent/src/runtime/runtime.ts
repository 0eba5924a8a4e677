/**
 * The one seam through which time, timers and randomness reach every plane. Production passes
 * `realRuntime()`; the simulator passes a `VirtualRuntime`, so whole nodes run under one seed and
 * one virtual clock (FoundationDB's INetwork/sim2 idea, narrowed to what the planes use).
 */

/** A cancellable timer. `unref` is a hint for the real runtime (a virtual one ignores it). */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds: for deadlines and durations; never steps backwards. */
  now(): number;
  /** Wall-clock milliseconds since the epoch: for boot epochs and timestamps shown to people. */
  wallNow(): number;
}

export interface Timers {
  /**
   * Calls `fn` once after `ms`. Delays are clamped to [0, MAX_TIMER_MS] and a longer delay is
   * re-armed in steps, so a deadline already passed (a stall) fires at once instead of warning,
   * and one past Node's 2^31-1 ms limit never fires early.
   */
  after(ms: number, fn: () => void): TimerHandle;
}

export interface Random {
  /** A uniform float in [0, 1). */
  next(): number;
}

export interface Runtime {
  readonly clock: Clock;
  readonly timers: Timers;
  readonly random: Random;
}

/** Node's setTimeout refuses (and warns about) anything above 2^31-1 ms, about 24.8 days. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay made safe for a timer: NaN and negatives become 0, and the step is capped. */
export function clampDelay(ms: number): number {
  if (!(ms > 0)) return 0;
  return Math.min(ms, MAX_TIMER_MS);
}

/** A uniform integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random.next() * n);
}
