/**
 * The leader's view of one follower (etcd's tracker.Progress, reduced): `probe` sends one append at
 * a time until the follower's match is found, `replicate` streams optimistically, `snapshot` waits
 * for a snapshot to land. `ackedSentAt` is the send time of the latest round the follower
 * acknowledged in this term: the lease and read index count it, never the arrival time of the ack.
 */
export class Progress {
  match = 0;
  next: number;
  state: 'probe' | 'replicate' | 'snapshot' = 'probe';
  /** In probe: an append is out; wait for its answer or the next heartbeat. */
  paused = false;
  /** In snapshot: the index sent and when (a lost snapshot is re-sent after an election timeout). */
  pendingSnapshot = 0;
  snapshotSentAt = 0;
  ackedSentAt: number | undefined;
  /** Local time of the latest response of any kind in this term (for "recently active"). */
  lastHeardAt: number | undefined;

  constructor(next: number) {
    this.next = next;
  }

  becomeProbe(): void {
    this.state = 'probe';
    this.paused = false;
    this.next = Math.max(this.next, this.match + 1);
    this.pendingSnapshot = 0;
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.paused = false;
    this.next = this.match + 1;
    this.pendingSnapshot = 0;
  }

  becomeSnapshot(index: number, now: number): void {
    this.state = 'snapshot';
    this.pendingSnapshot = index;
    this.snapshotSentAt = now;
  }

  /** A successful ack of `index`; false when stale. */
  maybeUpdate(index: number): boolean {
    if (index <= this.match) return false;
    this.match = index;
    this.next = Math.max(this.next, index + 1);
    this.paused = false;
    return true;
  }

  /** A rejection of an append at `rejected` (the follower's last index is `hint`); false when stale. */
  maybeDecrement(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.paused = false;
    return true;
  }

  ack(ctx: number, now: number): void {
    this.ackedSentAt = Math.max(this.ackedSentAt ?? Number.NEGATIVE_INFINITY, Math.min(ctx, now));
    this.lastHeardAt = now;
  }
}
