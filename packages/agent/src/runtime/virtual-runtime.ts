import { TimerQueue } from '../membership/timer-queue.ts';
import { mulberry32 } from '../sim/random.ts';
import type { Runtime, TimerHandle } from './runtime.ts';

/**
 * Virtual time for tests and the simulator: nothing fires until the owner advances the clock,
 * and every draw comes from one seed, so a run replays exactly. Several nodes may share one
 * instance's queue (one world clock) through `fork`, each with its own random stream and an
 * optional clock offset for drift experiments.
 */
export class VirtualRuntime implements Runtime {
  readonly clock;
  readonly timers;
  readonly random;
  private readonly queue: TimerQueue;
  private readonly world: { now: number };
  private readonly seeds: () => number;

  constructor(seed: number, shared?: { queue: TimerQueue; world: { now: number } }, offsetMs = 0, wallBase = 1.7e12) {
    this.queue = shared?.queue ?? new TimerQueue();
    this.world = shared?.world ?? { now: 0 };
    const draw = mulberry32(seed);
    this.seeds = mulberry32(seed ^ 0x9e3779b9);
    this.clock = {
      now: () => this.world.now + offsetMs,
      wallNow: () => wallBase + this.world.now + offsetMs,
    };
    this.timers = {
      after: (ms: number, fn: () => void): TimerHandle => {
        const id = this.queue.set(this.world.now + Math.max(0, Number.isFinite(ms) ? ms : 0), () => fn());
        return { cancel: () => this.queue.cancel(id) };
      },
    };
    this.random = { next: draw };
  }

  /** Another node's runtime on the same world clock, with its own seed and clock offset. */
  fork(offsetMs = 0): VirtualRuntime {
    return new VirtualRuntime(Math.floor(this.seeds() * 2 ** 32), { queue: this.queue, world: this.world }, offsetMs);
  }

  /** The world's time (no offset). */
  get worldNow(): number {
    return this.world.now;
  }

  /** Runs every timer due up to `now + ms`, in deadline order, moving the clock as it goes. */
  advance(ms: number): void {
    const end = this.world.now + ms;
    for (;;) {
      const at = this.queue.next();
      if (at === undefined || at > end) break;
      this.world.now = Math.max(this.world.now, at);
      this.queue.runDue(this.world.now);
    }
    this.world.now = end;
  }

  /** The thread is held for `ms` (a stall): the clock moves, and timers due meanwhile run late, at the next advance. */
  stall(ms: number): void {
    this.world.now += ms;
  }

  /** Advances until `done()` holds or `limitMs` passes; returns whether it held. */
  runUntil(done: () => boolean, limitMs: number, stepMs = 10): boolean {
    const end = this.world.now + limitMs;
    while (!done()) {
      if (this.world.now >= end) return false;
      this.advance(Math.min(stepMs, end - this.world.now));
    }
    return true;
  }
}
