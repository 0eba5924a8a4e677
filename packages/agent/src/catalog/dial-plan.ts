// Whom the catalog dials, and when. Pure: the allowed peers, the connected ones and the time go
// in; dials and hang-ups come out. No I/O, no clock of its own, so every rule below has a unit
// test and the simulator replays it.

import { createHash } from 'node:crypto';
import { compareStrings } from '../base/compare.ts';

export interface DialPlanOptions {
  /** Each agent dials at most this many peers, the lowest-ranked; the rest dial us. */
  readonly dialDegree: number;
  /** Failed dials back off from this, doubling; also the tie-break wait (see next()). */
  readonly redialIntervalMs: number;
  /** New peers are dialled once the set has stopped growing for this long... */
  readonly settleMs: number;
  /** ...or after this long of steady growth. */
  readonly maxSettleMs: number;
  /** Dials in flight at once. */
  readonly maxConcurrentDials: number;
  readonly maxBackoffMs: number;
}

/** A peer the plan may dial: its id and its rendezvous rank with us (pairRank). */
export interface PlanPeer {
  readonly peerId: string;
  readonly rank: string;
}

export type PlanStep<P extends PlanPeer> =
  /** Hold every dial back until `at` (the peer set is still growing). */
  | { readonly kind: 'settle'; readonly at: number }
  /**
   * Dial these now (each is marked in flight until dialDone). `retryAt`: when a peer held back (a
   * backoff, the tie-break wait) may be dialled, if any is; nothing else needs a timer, as every
   * other change (members, a lost connection, a finished dial) asks for a step itself.
   */
  | {
      readonly kind: 'dial';
      readonly peers: readonly P[];
      readonly retryAt?: number;
      /** A wanted peer was left undialled only because of the caller's `maxInFlight`. */
      readonly limited?: boolean;
    };

interface DialState {
  inFlight: boolean;
  failures: number;
  notBefore: number;
  /** When we first saw this peer allowed and not connected (for the dial tie-break). */
  waitingSince: number;
}

export class DialPlan {
  private readonly self: string;
  private readonly opts: DialPlanOptions;
  private readonly state = new Map<string, DialState>();
  /** When the peer set last grew. */
  private lastAddedAt = 0;
  /** Since when the set has been growing without a settle-long pause; undefined when settled. */
  private growingSince: number | undefined;

  constructor(selfPeerId: string, opts: DialPlanOptions) {
    this.self = selfPeerId;
    this.opts = opts;
  }

  /** The allowed set changed: `added` when it gained a peer; `allowed` is the new set. */
  peersChanged(allowed: ReadonlySet<string>, added: boolean, now: number): void {
    if (added) {
      this.lastAddedAt = now;
      this.growingSince ??= now;
    }
    for (const id of this.state.keys()) if (!allowed.has(id)) this.state.delete(id);
  }

  /** A connection to the peer opened (by either side). */
  connected(peerId: string): void {
    this.state.delete(peerId);
  }

  /**
   * The next step. While a join is still teaching us members, dials are held back: every agent of
   * a starting cluster learns everyone within a second, and if all of them then open their libp2p
   * connections at once (TCP, pnet, Noise, Yamux, gossipsub, a catalog sync: several ms
   * of CPU per side each), the handshake storm starves the SWIM event loops on a small host: acks
   * come late, Lifeguard backs off, and membership takes seconds longer to converge. Membership
   * first, then the catalog: its connections need the member table anyway.
   */
  next<P extends PlanPeer>(
    allowed: Iterable<P>,
    connected: ReadonlySet<string>,
    now: number,
    /** A tighter bound than maxConcurrentDials for this step (dial-pressure.ts). */
    maxInFlight = Number.POSITIVE_INFINITY,
  ): PlanStep<P> {
    if (this.growingSince !== undefined) {
      const quiet = now - this.lastAddedAt >= this.opts.settleMs;
      if (!quiet && now - this.growingSince < this.opts.maxSettleMs) {
        return {
          kind: 'settle',
          at: Math.min(this.lastAddedAt + this.opts.settleMs, this.growingSince + this.opts.maxSettleMs),
        };
      }
      this.growingSince = undefined;
    }
    let inFlight = 0;
    for (const s of this.state.values()) if (s.inFlight) inFlight++;
    const wanted = [...allowed].sort((a, b) => compareStrings(a.rank, b.rank)).slice(0, this.opts.dialDegree);
    const dial: P[] = [];
    let retryAt: number | undefined;
    let limited = false;
    const holdUntil = (at: number) => {
      retryAt = retryAt === undefined ? at : Math.min(retryAt, at);
    };
    for (const peer of wanted) {
      if (connected.has(peer.peerId)) {
        this.state.delete(peer.peerId);
        continue;
      }
      let s = this.state.get(peer.peerId);
      if (s === undefined) {
        s = { inFlight: false, failures: 0, notBefore: 0, waitingSince: now };
        this.state.set(peer.peerId, s);
      }
      if (s.inFlight) continue;
      if (now < s.notBefore) {
        holdUntil(s.notBefore);
        continue;
      }
      // Tie-break so a pair that wants each other dials once, not twice: the lower peer id dials
      // at once, the higher one only if no connection has appeared after a redial interval.
      if (this.self > peer.peerId && now - s.waitingSince < this.opts.redialIntervalMs) {
        holdUntil(s.waitingSince + this.opts.redialIntervalMs);
        continue;
      }
      if (inFlight >= this.opts.maxConcurrentDials) break;
      if (inFlight >= maxInFlight) {
        limited = true;
        break;
      }
      inFlight++;
      s.inFlight = true;
      dial.push(peer);
    }
    return {
      kind: 'dial',
      peers: dial,
      ...(retryAt === undefined ? {} : { retryAt }),
      ...(limited ? { limited } : {}),
    };
  }

  /** A dial finished; a failure backs the peer off (doubling, capped). */
  dialDone(peerId: string, ok: boolean, now: number): void {
    const s = this.state.get(peerId);
    if (s === undefined) return;
    s.inFlight = false;
    if (ok) {
      s.failures = 0;
      return;
    }
    s.failures++;
    s.notBefore = now + Math.min(this.opts.maxBackoffMs, this.opts.redialIntervalMs * 2 ** s.failures);
  }
}

/** Connections to close: peers that left the allowed set, and any connected peer not in it. */
export function hangUps(
  before: Iterable<string>,
  allowed: ReadonlySet<string>,
  connected: Iterable<string>,
): Set<string> {
  const out = new Set<string>();
  for (const id of before) if (!allowed.has(id)) out.add(id);
  for (const id of connected) if (!allowed.has(id)) out.add(id);
  return out;
}

/** Rendezvous rank of a pair: the same on both ends, spread evenly over pairs. */
export function pairRank(a: string, b: string): string {
  const [lo, hi] = a < b ? [a, b] : [b, a];
  return createHash('sha256').update(lo).update('\n').update(hi).digest('hex').slice(0, 16);
}
