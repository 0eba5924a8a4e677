import type { Runtime, TimerHandle } from '../runtime/index.ts';

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
 * Node's monitorEventLoopDelay measured the same gaps but forgot the last sample on reset(): a
 * stall starting between a reset and the next sample went unseen (up to one sampling period per
 * check). `take()` keeps the last sample's time, so there is no such blind spot.
 */
export class LoopStallMeter {
  private readonly runtime: Runtime;
  private readonly sampleMs: number;
  private last: number;
  private longest = 0;
  private timer: TimerHandle | undefined;
  private readonly onSample: ((now: number) => void) | undefined;

  /**
   * `onSample` runs after each of the meter's own samples: a caller with its own periodic check
   * rides on these wake-ups instead of arming another timer (each wakes an idle process).
   */
  constructor(runtime: Runtime, sampleMs: number, onSample?: (now: number) => void) {
    this.runtime = runtime;
    this.sampleMs = sampleMs;
    this.onSample = onSample;
    this.last = runtime.clock.now();
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
    return Math.max(this.longest, this.runtime.clock.now() - this.last);
  }

  /**
   * The longest gap since the last `take()`, then starts over. The call is itself a sample: the
   * loop is running now, so no stall spans this moment and the gap in progress can be closed here
   * (a stall that delayed both this call and the sampler is reported once, now).
   */
  take(): number {
    this.sample();
    const longest = this.longest;
    this.longest = 0;
    return longest;
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(): void {
    this.timer = this.runtime.timers.after(this.sampleMs, () => {
      this.sample();
      this.arm();
      this.onSample?.(this.last);
    });
  }

  private sample(): void {
    const now = this.runtime.clock.now();
    this.longest = Math.max(this.longest, now - this.last);
    this.last = now;
  }
}
