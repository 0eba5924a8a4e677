/**
 * Lifeguard's dynamic suspicion timeout (LHA-Suspicion). The timer starts at `max` and shrinks
 * toward `min` as independent observers confirm the suspicion:
 *   timeout(C) = max(min, max - (max - min) * ln(C + 1) / ln(k + 1))
 * Pure: the caller owns the clock and asks for the deadline.
 */
export class Suspicion {
  readonly startedAt: number;
  /** The accuser plus every distinct confirmer: the independent observers, in arrival order. */
  private readonly observers = new Set<string>();
  private readonly k: number;
  private readonly minMs: number;
  private readonly maxMs: number;
  /** Ours (confirmation rule 6): how long a confirmed suspicion lasts after our own refused connect. */
  private readonly refusalMs: number | undefined;
  /** When our own probe's TCP connect to the member was refused, if it was. */
  private refusedAt: number | undefined;

  /** `from` undefined: learnt from a push/pull state, which names no observer (README, rule 7). */
  constructor(opts: {
    from: string | undefined;
    startedAt: number;
    k: number;
    minMs: number;
    maxMs: number;
    refusalMs?: number | undefined;
  }) {
    this.startedAt = opts.startedAt;
    this.k = opts.k;
    this.minMs = opts.minMs;
    this.maxMs = opts.maxMs;
    this.refusalMs = opts.refusalMs;
    if (opts.from !== undefined) this.observers.add(opts.from);
  }

  /** Who accused first; undefined while nobody has (a merged suspicion). */
  get accuser(): string | undefined {
    for (const o of this.observers) return o;
    return undefined;
  }

  /** Our own probe's connect was refused at `at`: the member's kernel said nothing listens there. */
  noteRefusal(at: number): void {
    this.refusedAt = Math.min(this.refusedAt ?? at, at);
  }

  /** Records an observer; true when it is new (and so worth re-gossiping). */
  confirm(from: string): boolean {
    if (this.observers.has(from)) return false;
    this.observers.add(from);
    return true;
  }

  /**
   * Whether another confirmation still matters: until it is confirmed (2 observers) and until the
   * timeout reaches its minimum (k confirmations). memberlist stops re-gossiping beyond that.
   */
  wantsConfirmations(): boolean {
    return this.observers.size < Math.max(2, this.k + 1);
  }

  /** Distinct nodes that suspect the member, the accuser included. */
  observerCount(): number {
    return this.observers.size;
  }

  deadline(): number {
    const lifeguard = this.lifeguardDeadline();
    // A refusal we saw ourselves, and another observer: the process is gone, not slow (README, rule 6).
    if (this.refusedAt === undefined || this.refusalMs === undefined || this.observers.size < 2) return lifeguard;
    return Math.min(lifeguard, this.refusedAt + this.refusalMs);
  }

  private lifeguardDeadline(): number {
    // No observer yet (a merged suspicion) times like one: Lifeguard's longest timeout.
    const confirmations = Math.max(0, this.observers.size - 1);
    if (this.k < 1) return this.startedAt + this.minMs;
    const frac = Math.log(Math.min(confirmations, this.k) + 1) / Math.log(this.k + 1);
    const timeout = Math.max(this.minMs, Math.floor(this.maxMs - (this.maxMs - this.minMs) * frac));
    return this.startedAt + timeout;
  }
}
