import type { ConfChange, Outcome, RaftMessage, RaftOptions, RaftStatus, Ready } from './types.ts';

/**
 * One Raft voter, sans-I/O (etcd-io/raft's RawNode shape): `step` and `tick` in, `ready` out.
 * Skeleton: the public API is final; the bodies land in the following commits.
 */
export class RaftNode {
  private readonly opts: RaftOptions;

  constructor(opts: RaftOptions, now: number) {
    this.opts = opts;
    void now;
  }

  /** Drives timers (elections, heartbeats, lease expiry); call at `nextDeadline()` at the latest. */
  tick(now: number): void {
    void now;
  }

  /** An inbound message, already validated by the codec. Messages for another node are ignored. */
  step(msg: RaftMessage, now: number): void {
    void msg;
    void now;
  }

  /** Appends a normal entry (leader only); the index it will commit at, if accepted. */
  propose(data: Uint8Array, now: number): Outcome<{ index: number }> {
    void data;
    void now;
    return { ok: false, reason: 'not-leader' };
  }

  /** A single-server configuration change (leader only, one at a time, never one that knowingly loses quorum). */
  proposeConfChange(change: ConfChange, now: number): Outcome<{ index: number }> {
    void change;
    void now;
    return { ok: false, reason: 'not-leader' };
  }

  /**
   * A linearizable read: `id` comes back in `Ready.readStates` with the index the state machine
   * must have applied. A follower forwards it to the leader.
   */
  readIndex(id: string, now: number): Outcome {
    void id;
    void now;
    return { ok: false, reason: 'no-leader' };
  }

  /**
   * Graceful switchover to `to` (or the most caught-up voter). The lease ends AT ONCE (the caller
   * stops acting first, then calls this); TimeoutNow is sent once the target has the whole log.
   */
  transferLeadership(to: string | undefined, now: number): Outcome {
    void to;
    void now;
    return { ok: false, reason: 'not-leader' };
  }

  /**
   * Takes a snapshot the caller made of its state machine at `index` (<= applied): the log up to
   * `index` is dropped from memory and the next Ready carries it as `compacted`.
   */
  compact(index: number, data: Uint8Array): boolean {
    void index;
    void data;
    return false;
  }

  hasReady(): boolean {
    return false;
  }

  ready(): Ready {
    return { entries: [], messages: [], committed: [], readStates: [] };
  }

  /** The caller persisted, sent and applied everything in `ready`. */
  advance(ready: Ready, now: number): void {
    void ready;
    void now;
  }

  /**
   * Leader only: the instant (caller's clock) the lease ends, if it holds one now: a majority
   * acknowledged rounds sent within the lease, and its noop is committed (the token is known).
   */
  leaseValidUntil(now: number): number | undefined {
    void now;
    return undefined;
  }

  /** When `tick` must be called next (caller's clock). */
  nextDeadline(): number {
    return Number.POSITIVE_INFINITY;
  }

  status(): RaftStatus {
    return {
      id: this.opts.id,
      role: 'follower',
      term: 0,
      leader: undefined,
      commit: 0,
      applied: 0,
      voters: [...this.opts.voters],
      lastIndex: 0,
      token: 0,
    };
  }
}
