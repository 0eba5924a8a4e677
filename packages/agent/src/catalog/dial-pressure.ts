// Catalog dials yield to membership on a starved loop. Pure: a cumulative contention figure, the
// time and a random draw go in; how many dials may be in flight, and when to look again, come out.

import type { ContentionSource } from '../membership/loop-stall-meter.ts';
import type { Random } from '../runtime/index.ts';

export interface DialPressureOptions {
  /** Contention is judged over windows of at least this long. */
  readonly windowMs: number;
  /** A window whose contention is over this share of its length is pressured. */
  readonly maxShare: number;
  /** Under pressure, one dial at a time, and starts at least this far apart (×0.5-1.5, jittered). */
  readonly trickleMs: number;
}

/** What the plan may start now: dials in flight at most, and when to ask again if that held one back. */
export interface DialAllowance {
  readonly maxInFlight: number;
  readonly recheckAt?: number;
}

export const DIAL_PRESSURE: DialPressureOptions = { windowMs: 500, maxShare: 0.5, trickleMs: 3_000 };

/** An older sample than this many windows says little about now: a fresh window is measured first. */
const STALE_WINDOWS = 4;

/**
 * Why: a libp2p connection costs ~7-8 ms of CPU on each side (pnet, Noise, Yamux, gossipsub; more
 * with a catalog sync), and a cluster that finishes joining opens its connections at once.
 * At 50 agents on a 2-core host the SWIM loops then stalled for up to 2 s when a crash came 5 s
 * after the join; an experiment that held every dial back had a tenth of the stalls. A loop that
 * ran or waited for a CPU for most of a window is starved: its dials then trickle, one at a time,
 * seconds apart (jittered, so starved agents do not dial in step), and leave the CPU it gets to
 * membership. On a host with a core to spare, contention stays low and dials go at once.
 */
export class DialPressure {
  private readonly contention: ContentionSource;
  private readonly random: Random;
  private readonly opts: DialPressureOptions;
  private sampleAt: number | undefined;
  private sampleContention = 0;
  /** The last full window's verdict; undefined while the first window after a stale one runs. */
  private pressured: boolean | undefined;
  private nextStartAt = Number.NEGATIVE_INFINITY;

  constructor(contention: ContentionSource, random: Random, opts: DialPressureOptions = DIAL_PRESSURE) {
    this.contention = contention;
    this.random = random;
    this.opts = opts;
  }

  /** Closes a window if one is due. Cheap (one /proc read); call it on every dial decision. */
  measure(now: number): void {
    const { windowMs } = this.opts;
    if (this.sampleAt === undefined || now - this.sampleAt > STALE_WINDOWS * windowMs) {
      this.sampleAt = now;
      this.sampleContention = this.contention();
      this.pressured = undefined;
      return;
    }
    const length = now - this.sampleAt;
    if (length < windowMs) return;
    const c = this.contention();
    this.pressured = c - this.sampleContention > this.opts.maxShare * length;
    this.sampleAt = now;
    this.sampleContention = c;
  }

  /** How many dials may be in flight now. Call measure(now) first. */
  allowance(now: number): DialAllowance {
    const windowEnd = (this.sampleAt ?? now) + this.opts.windowMs;
    if (this.pressured === false) return { maxInFlight: Number.POSITIVE_INFINITY };
    if (this.pressured === undefined) return { maxInFlight: 0, recheckAt: windowEnd };
    if (now < this.nextStartAt) return { maxInFlight: 0, recheckAt: Math.min(windowEnd, this.nextStartAt) };
    return { maxInFlight: 1, recheckAt: windowEnd };
  }

  /** A dial started; under pressure, the next one waits a jittered trickle interval. */
  started(now: number): void {
    if (this.pressured !== true) return;
    this.nextStartAt = now + this.opts.trickleMs * (0.5 + this.random.next());
  }
}
