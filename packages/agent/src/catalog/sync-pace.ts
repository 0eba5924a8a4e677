/**
 * How often an agent starts an anti-entropy exchange. While exchanges find both sides holding the
 * same records (equal summaries: nothing sent, nothing received), the interval doubles from the
 * base up to the ceiling; any sign of change (an exchange that moved records either way, a record
 * or opinion accepted from gossip, our own publish, a member added or gone) brings it back to the
 * base. Gossipsub carries every change at once; anti-entropy only repairs what it missed, so an
 * idle cluster where everything agrees need not keep swapping summaries every 10 s (each exchange
 * costs a yamux stream, Noise frames and a wake-up on both sides).
 *
 * Repair bound: a record that gossip missed reaches the agent that missed it at its own next
 * exchange, at most ceiling x 1.25 (jitter) later, and usually sooner: the agents that accepted the
 * change are back at the base pace, and their first exchange with it (in either direction)
 * repairs it.
 */
export class SyncPace {
  readonly baseMs: number;
  readonly ceilingMs: number;
  private current: number;

  constructor(baseMs: number, ceilingMs: number) {
    this.baseMs = baseMs;
    this.ceilingMs = ceilingMs;
    this.current = baseMs;
  }

  /** The interval before the next exchange (before jitter). */
  get intervalMs(): number {
    return this.current;
  }

  /** An exchange found both sides in agreement: slow down, up to the ceiling. */
  agreed(): void {
    this.current = Math.max(this.baseMs, Math.min(this.current * 2, this.ceilingMs));
  }

  /** Something changed: back to the base pace. True when the pace was slower (re-arm the timer). */
  changed(): boolean {
    const slower = this.current > this.baseMs;
    this.current = this.baseMs;
    return slower;
  }
}
