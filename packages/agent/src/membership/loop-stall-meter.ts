import type { Runtime, TimerHandle } from '../runtime/index.ts';

/**
 * Cumulative milliseconds in which our loop could not have run a due timer: time it was busy
 * running callbacks plus time the thread waited for a CPU (loop-contention.ts). Non-decreasing.
 */
export type ContentionSource = () => number;

/** While asleep, contention over this much in one window keeps the meter sampling for a while. */
const CONTENTION_MS = 100;
/** How long the meter keeps sampling after contention was seen. */
const CONTENDED_SAMPLE_MS = 30_000;

/**
 * Measures event-loop stalls (our thread busy, or not scheduled at all) for the voter rule and
 * Lifeguard: the longest gap between two consecutive runs of its own sampling timer.
 *
 * Why every stall over a threshold is noticed, however coarse the sampling: a stall runs no timer
 * callbacks, so it lies wholly between two consecutive samples and the gap across it is at least
 * as long as the stall. Comparing the longest gap with the threshold itself therefore never misses
 * one. The sampling period only sets the other side: with no stall a gap is the period plus the
 * timer's lateness, so lateness over `threshold - period` also reads as a stall (a false alarm
 * costs a node its vote for a while, never a missed stall).
 *
 * With a contention source the meter sleeps when nothing needs it (each sample wakes an idle
 * process, at 125 ms most of an idle agent's wake-ups). It samples while `watch(true)` (the
 * engine awaits answers, which the voter rule may judge) and for 30 s after contention; asleep,
 * a window's figure is its contention instead of its length: a stall, busy or waiting for a CPU,
 * is contention, so the figure is still at least every stall that sampling would have measured.
 * One exception: a stopped process (SIGSTOP, a debugger) is on no run queue, so a pause that falls
 * wholly in a sleep reads as nothing here; after it, the engine's overdue timers and any probe it
 * sends are what notice, and no answer was awaited during it (that would have kept us sampling).
 * Without a source (other platforms, virtual time) it always samples.
 *
 * Node's monitorEventLoopDelay measured the same gaps but forgot the last sample on reset(): a
 * stall starting between a reset and the next sample went unseen (up to one sampling period per
 * check). `take()` keeps the last sample's time, so there is no such blind spot.
 */
export class LoopStallMeter {
  private readonly runtime: Runtime;
  private readonly sampleMs: number;
  private readonly contention: ContentionSource | undefined;
  private last: number;
  private contentionAtLast: number;
  private longest = 0;
  private timer: TimerHandle | undefined;
  private watching = false;
  private contendedUntil = Number.NEGATIVE_INFINITY;
  private stopped = false;
  private readonly onSample: ((now: number) => void) | undefined;

  /**
   * `onSample` runs after each of the meter's own samples: a caller with its own periodic check
   * rides on these wake-ups instead of arming another timer (each wakes an idle process).
   */
  constructor(runtime: Runtime, sampleMs: number, onSample?: (now: number) => void, contention?: ContentionSource) {
    this.runtime = runtime;
    this.sampleMs = sampleMs;
    this.onSample = onSample;
    this.contention = contention;
    this.last = runtime.clock.now();
    this.contentionAtLast = contention?.() ?? 0;
    this.arm();
  }

  /**
   * How often to sample for stalls longer than `thresholdMs`: each sample wakes an idle process
   * (at 50 ms they were 20 of an idle agent's ~34 wake-ups a second). Half the threshold (125 ms
   * on LAN, 8 a second) counts lateness over half the threshold as a stall.
   */
  static periodFor(thresholdMs: number): number {
    return Math.max(1, Math.floor(thresholdMs / 2));
  }

  /** The longest gap since the last `take()`, in ms, without starting a new period. */
  peek(): number {
    return Math.max(this.longest, this.window(this.runtime.clock.now()).gap);
  }

  /**
   * The longest gap since the last `take()`, then starts over. The call is itself a sample: the
   * loop is running now, so no stall spans this moment and the gap in progress can be closed here
   * (a stall that delayed both this call and the sampler is reported once, now).
   */
  take(): number {
    this.sample();
    this.settle();
    const longest = this.longest;
    this.longest = 0;
    return longest;
  }

  /** Whether something needs sampling now (the engine awaits answers); false lets it sleep. */
  watch(on: boolean): void {
    if (on === this.watching) return;
    this.watching = on;
    if (on) this.wake();
    else this.settle();
  }

  /** Starts sampling (a no-op while sampling); the time asleep counts by its contention. */
  wake(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.sample();
    this.arm();
  }

  isSampling(): boolean {
    return this.timer !== undefined;
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(): void {
    this.timer = this.runtime.timers.after(this.sampleMs, () => {
      this.sample();
      this.timer = undefined;
      if (!this.stopped && this.mustSample(this.last)) this.arm();
      this.onSample?.(this.last);
    });
  }

  /** Samples or sleeps, as mustSample says. */
  private settle(): void {
    if (this.stopped) return;
    if (this.mustSample(this.runtime.clock.now())) {
      this.wake();
      return;
    }
    if (this.timer === undefined) return;
    this.sample(); // closes the window the timer covered at its exact length
    if (this.mustSample(this.last)) return;
    this.timer.cancel();
    this.timer = undefined;
  }

  private mustSample(now: number): boolean {
    return this.contention === undefined || this.watching || now < this.contendedUntil;
  }

  /**
   * The gap from the last sample to `now`: its length while the timer ran throughout, else (asleep)
   * the contention in it, which bounds any stall inside it.
   */
  private window(now: number): { gap: number; contention: number } {
    const length = now - this.last;
    if (this.contention === undefined) return { gap: length, contention: 0 };
    const contention = this.contention();
    const spent = Math.max(0, contention - this.contentionAtLast);
    return { gap: this.timer !== undefined ? length : Math.min(length, spent), contention };
  }

  private sample(): void {
    const now = this.runtime.clock.now();
    const { gap, contention } = this.window(now);
    if (this.contention !== undefined && contention - this.contentionAtLast > CONTENTION_MS) {
      this.contendedUntil = now + CONTENDED_SAMPLE_MS;
    }
    this.longest = Math.max(this.longest, gap);
    this.last = now;
    this.contentionAtLast = contention;
  }
}
