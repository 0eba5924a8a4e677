import { decodeConfig, encodeConfig } from './config.ts';
import { RaftLog } from './log.ts';
import { Progress } from './progress.ts';
import { quorumSize, quorumValue, voteResult } from './quorum.ts';
import type {
  ConfChange,
  Entry,
  HardState,
  NodeId,
  Outcome,
  RaftMessage,
  RaftOptions,
  RaftStatus,
  ReadState,
  Ready,
  Role,
  RoleChange,
  Snapshot,
} from './types.ts';

type Outgoing = RaftMessage extends infer M ? (M extends RaftMessage ? Omit<M, 'from' | 'term'> : never) : never;

interface PendingRead {
  id: string;
  index: number;
  /** Released once a majority acknowledged a round sent at or after (strict: after) this instant. */
  sentAfter: number;
  strict: boolean;
  /** A follower that forwarded the read (answered by message), or undefined for a local read. */
  from: NodeId | undefined;
}

const EMPTY = new Uint8Array(0);

/**
 * One Raft voter, sans-I/O (etcd-io/raft's RawNode shape): `step` and `tick` in, `ready` out.
 *
 * Beyond the paper: PreVote and leader stickiness (a voter that heard from a live leader within
 * the sticky window ignores (pre)vote requests, so a node back from a partition cannot depose a
 * healthy leader), CheckQuorum folded into the lease (the leader steps down when its lease ends),
 * single-server configuration changes, leadership transfer (TimeoutNow), ReadIndex, and
 * lease-based leadership bounded by the clocks' drift (see RaftOptions.maxClockDrift).
 */
export class RaftNode {
  readonly id: NodeId;
  private readonly electionMs: number;
  private readonly heartbeatMs: number;
  /** The lease, on the leader's clock, from the send of the acknowledged round. */
  private readonly leaseMs: number;
  /** How long a voter refuses votes after hearing from a leader, on its own clock. */
  private readonly stickyMs: number;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly opts: RaftOptions;

  private term = 0;
  private vote: NodeId | undefined;
  private leader: NodeId | undefined;
  private role: Role = 'follower';
  private readonly log: RaftLog;
  private commit = 0;
  private applied = 0;
  /** The highest committed index handed to a Ready. */
  private handedCommit = 0;
  private voters: NodeId[];
  private configIndex = 0;
  private token = 0;

  private electionDeadline = 0;
  private lastHeardLeaderAt: number;
  private votes = new Map<NodeId, boolean>();

  private progress = new Map<NodeId, Progress>();
  private becameLeaderAt = 0;
  private heartbeatDue = 0;
  private lastRoundAt = Number.NEGATIVE_INFINITY;
  private noopIndex = 0;
  private transferee: NodeId | undefined;
  private transferDeadline = 0;
  private pendingReads: PendingRead[] = [];

  private msgs: RaftMessage[] = [];
  private readStates: ReadState[] = [];
  private handedHard: HardState;
  private pendingSnapshot: Snapshot | undefined;
  private pendingCompaction: Snapshot | undefined;
  private reported: RoleChange | undefined;
  private inflight = false;

  constructor(opts: RaftOptions, now: number) {
    this.opts = opts;
    this.id = opts.id;
    const drift = opts.maxClockDrift;
    if (!(drift >= 0 && drift < 0.5)) throw new RangeError('maxClockDrift must be in [0, 0.5)');
    if (!(opts.heartbeatMs > 0 && opts.electionTimeoutMs > 0)) throw new RangeError('timeouts must be > 0');
    if (opts.heartbeatMs >= opts.electionTimeoutMs * (1 - drift) * 0.5) {
      throw new RangeError('heartbeatMs must be below half the lease (electionTimeoutMs*(1-maxClockDrift)/2)');
    }
    this.electionMs = opts.electionTimeoutMs;
    this.heartbeatMs = opts.heartbeatMs;
    this.leaseMs = this.electionMs * (1 - drift) * (opts.unsafe?.leaseFactor ?? 1);
    this.stickyMs = this.electionMs * (1 + drift);
    this.maxEntries = opts.maxEntriesPerMessage ?? 64;
    this.maxBytes = opts.maxBytesPerMessage ?? 256 * 1024;

    const storage = opts.storage;
    this.log = new RaftLog(storage?.snapshot, storage?.entries ?? []);
    const snap = this.log.snapshot;
    this.term = storage?.hardState.term ?? 0;
    this.vote = storage?.hardState.vote;
    this.applied = snap?.index ?? 0;
    this.handedCommit = this.applied;
    this.commit = Math.max(this.applied, Math.min(storage?.hardState.commit ?? 0, this.log.lastIndex()));
    this.token = snap?.token ?? 0;
    this.scanTokens(this.applied + 1, this.commit);
    this.voters = [...opts.voters];
    this.recomputeConfig();
    this.handedHard = { term: this.term, vote: this.vote, commit: this.commit };
    // A (re)started node may have acknowledged a leader just before it went down: it stays sticky
    // for a full window, or a crash would let it vote away a lease it helped grant.
    this.lastHeardLeaderAt = now;
    this.resetElectionTimer(now);
    this.reported = { role: this.role, leader: this.leader, term: this.term };
  }

  // ---------------------------------------------------------------- inputs

  /** Drives timers (elections, heartbeats, lease expiry); call at `nextDeadline()` at the latest. */
  tick(now: number): void {
    if (this.role === 'leader') {
      if (now >= this.stepDownAt()) {
        this.becomeFollower(this.term, undefined, now);
        return;
      }
      if (this.transferee !== undefined && now >= this.transferDeadline) this.transferee = undefined;
      if (now >= this.heartbeatDue) {
        this.bcastHeartbeat(now);
        this.heartbeatDue = now + this.heartbeatMs;
      }
      return;
    }
    if (now >= this.electionDeadline) {
      if (this.promotable()) this.campaign(now, false);
      else this.resetElectionTimer(now);
    }
  }

  /** An inbound message, already validated by the codec. Messages for another node are ignored. */
  step(msg: RaftMessage, now: number): void {
    if (msg.to !== this.id || msg.from === this.id) return;
    if (this.role === 'leader' && now >= this.stepDownAt()) this.becomeFollower(this.term, undefined, now);

    if (msg.term > this.term) {
      const isVoteRequest = msg.type === 'prevote' || msg.type === 'vote';
      // Leader stickiness: while a live leader was heard within the window, a (pre)vote request
      // is ignored outright (term untouched), unless TimeoutNow started the campaign.
      if (isVoteRequest && !msg.transfer && this.inLease(now)) return;
      const keepTerm = msg.type === 'prevote' || (msg.type === 'prevoteResp' && !msg.reject);
      if (!keepTerm) {
        const fromLeader = msg.type === 'append' || msg.type === 'heartbeat' || msg.type === 'snapshot';
        this.becomeFollower(msg.term, fromLeader ? msg.from : undefined, now);
      }
    } else if (msg.term < this.term) {
      if (msg.type === 'append' || msg.type === 'heartbeat' || msg.type === 'snapshot') {
        // A stale leader (back from a partition) learns the newer term from this and steps down.
        this.send({ type: 'appendResp', to: msg.from, reject: true, index: 0, hint: 0, ctx: 0 });
      } else if (msg.type === 'prevote') {
        this.send({ type: 'prevoteResp', to: msg.from, reject: true });
      }
      return;
    }

    switch (msg.type) {
      case 'prevote':
      case 'vote':
        this.handleVoteRequest(msg, now);
        return;
      case 'prevoteResp':
      case 'voteResp':
        this.handleVoteResponse(msg, now);
        return;
      case 'append':
        this.followLeader(msg.from, now);
        this.handleAppend(msg);
        return;
      case 'heartbeat':
        this.followLeader(msg.from, now);
        this.commitTo(Math.min(msg.commit, this.log.lastIndex()));
        this.send({ type: 'heartbeatResp', to: msg.from, ctx: msg.ctx });
        return;
      case 'snapshot':
        this.followLeader(msg.from, now);
        this.handleSnapshot(msg);
        return;
      case 'appendResp':
        if (this.role === 'leader') this.handleAppendResponse(msg, now);
        return;
      case 'heartbeatResp':
        if (this.role === 'leader') this.handleHeartbeatResponse(msg, now);
        return;
      case 'timeoutNow':
        // Only from our leader; the campaign skips PreVote and stickiness, because the leader
        // gave up its lease before sending this.
        if (msg.from === this.leader && this.promotable()) this.becomeCandidate(now, true);
        return;
      case 'readIndex':
        if (this.role === 'leader' && this.commit >= this.noopIndex) this.serveRead(msg.id, now, msg.from);
        else this.send({ type: 'readIndexResp', to: msg.from, id: msg.id, index: 0 });
        return;
      case 'readIndexResp':
        this.readStates.push({ id: msg.id, index: msg.index });
        return;
    }
  }

  /** Appends a normal entry (leader only); the index it will commit at, if accepted. */
  propose(data: Uint8Array, now: number): Outcome<{ index: number }> {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader' };
    if (this.transferee !== undefined) return { ok: false, reason: 'transferring' };
    const index = this.appendOwn('normal', data);
    this.bcastAppend(now);
    return { ok: true, index };
  }

  /** A single-server configuration change (leader only, one at a time, never one that knowingly loses quorum). */
  proposeConfChange(change: ConfChange, now: number): Outcome<{ index: number }> {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader' };
    if (this.transferee !== undefined) return { ok: false, reason: 'transferring' };
    // The first entry of the term must be committed before a change (Ongaro's fix for
    // single-server changes across leader changes), and one change at a time.
    if (this.commit < this.noopIndex) return { ok: false, reason: 'no-commit-in-term' };
    if (this.configIndex > this.commit) return { ok: false, reason: 'config-pending' };
    let next: NodeId[];
    if (change.add !== undefined && change.remove === undefined) {
      if (this.voters.includes(change.add)) return { ok: false, reason: 'already-voter' };
      next = [...this.voters, change.add];
    } else if (change.remove !== undefined && change.add === undefined) {
      if (!this.voters.includes(change.remove)) return { ok: false, reason: 'unknown-voter' };
      next = this.voters.filter((v) => v !== change.remove);
      if (next.length === 0) return { ok: false, reason: 'would-lose-quorum' };
    } else {
      return { ok: false, reason: 'unknown-voter' };
    }
    // Knowingly losing quorum: the voters heard from within an election timeout (the leader
    // itself included) must make a majority of the NEW configuration.
    const active = next.filter((v) => v === this.id || this.recentlyActive(v, now)).length;
    if (active < quorumSize(next)) return { ok: false, reason: 'would-lose-quorum' };
    const index = this.appendOwn('config', encodeConfig(next));
    this.bcastAppend(now);
    return { ok: true, index };
  }

  /**
   * A linearizable read: `id` comes back in `Ready.readStates` with the index the state machine
   * must have applied (index 0: the leader refused; retry). A follower forwards it to the leader.
   * The leader answers at once while it holds its lease, else after a majority acknowledged a
   * heartbeat round sent after the request.
   */
  readIndex(id: string, now: number): Outcome {
    if (this.role === 'leader') {
      if (now >= this.stepDownAt()) this.becomeFollower(this.term, undefined, now);
      else if (this.commit < this.noopIndex) return { ok: false, reason: 'no-commit-in-term' };
      else {
        this.serveRead(id, now, undefined);
        return { ok: true };
      }
    }
    if (this.leader === undefined) return { ok: false, reason: 'no-leader' };
    this.send({ type: 'readIndex', to: this.leader, id });
    return { ok: true };
  }

  /**
   * Graceful switchover to `to` (or the most caught-up voter). The lease ends AT ONCE (the caller
   * stops acting first, then calls this); TimeoutNow is sent once the target has the whole log,
   * and the leader steps down as it sends it. Without progress within an election timeout the
   * transfer is abandoned and the lease may resume.
   */
  transferLeadership(to: NodeId | undefined, now: number): Outcome {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader' };
    if (this.transferee !== undefined) return { ok: false, reason: 'transferring' };
    let target = to;
    if (target === undefined) {
      let best = -1;
      for (const [id, pr] of this.progress) {
        if (!this.voters.includes(id)) continue;
        if (pr.match > best || (pr.match === best && target !== undefined && id < target)) {
          best = pr.match;
          target = id;
        }
      }
    }
    if (target === undefined || target === this.id || !this.voters.includes(target)) {
      return { ok: false, reason: 'unknown-voter' };
    }
    this.transferee = target;
    this.transferDeadline = now + this.electionMs;
    const pr = this.progress.get(target)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(now);
    else {
      pr.paused = false;
      this.sendAppend(target, now);
    }
    return { ok: true };
  }

  /**
   * Takes a snapshot the caller made of its state machine at `index` (<= applied): the log up to
   * `index` is dropped from memory and the next Ready carries it as `compacted`.
   */
  compact(index: number, data: Uint8Array): boolean {
    const snapIndex = this.log.firstIndex() - 1;
    if (index > this.applied || index <= snapIndex) return false;
    const snap: Snapshot = {
      index,
      term: this.log.term(index)!,
      voters: this.configAt(index),
      token: this.tokenAt(index),
      data,
    };
    this.log.compact(snap);
    this.pendingCompaction = snap;
    return true;
  }

  // ---------------------------------------------------------------- outputs

  hasReady(): boolean {
    if (this.inflight) return false;
    return (
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.pendingSnapshot !== undefined ||
      this.pendingCompaction !== undefined ||
      this.log.unstableFrom <= this.log.lastIndex() ||
      this.commit > this.handedCommit ||
      this.hardChanged() ||
      this.roleChanged()
    );
  }

  ready(): Ready {
    const ready: Ready = {
      entries: this.log.takeUnstable(),
      messages: this.msgs,
      committed: this.commit > this.handedCommit ? this.log.slice(this.handedCommit + 1, this.commit) : [],
      readStates: this.readStates,
    };
    this.msgs = [];
    this.readStates = [];
    if (this.pendingSnapshot) ready.snapshot = this.pendingSnapshot;
    if (this.pendingCompaction) ready.compacted = this.pendingCompaction;
    this.pendingSnapshot = undefined;
    this.pendingCompaction = undefined;
    if (this.hardChanged()) {
      this.handedHard = { term: this.term, vote: this.vote, commit: this.commit };
      ready.hardState = { ...this.handedHard };
    }
    if (this.roleChanged()) {
      this.reported = { role: this.role, leader: this.leader, term: this.term };
      ready.role = { ...this.reported };
    }
    this.handedCommit = Math.max(this.handedCommit, ready.committed.at(-1)?.index ?? 0);
    this.inflight = true;
    return ready;
  }

  /** The caller persisted, sent and applied everything in `ready`. */
  advance(ready: Ready, now: number): void {
    this.inflight = false;
    this.log.persisted(ready.entries);
    if (ready.snapshot) this.applied = Math.max(this.applied, ready.snapshot.index);
    const last = ready.committed.at(-1);
    if (last) this.applied = Math.max(this.applied, last.index);
    if (this.role === 'leader' && ready.entries.length > 0 && this.maybeCommit()) this.onCommitted(now);
  }

  /**
   * Leader only: the instant (caller's clock) the lease ends, if it holds one now: a majority
   * acknowledged rounds sent within the lease, its noop is committed (the token is known), and
   * no transfer is under way.
   */
  leaseValidUntil(now: number): number | undefined {
    if (this.role !== 'leader' || this.transferee !== undefined || this.commit < this.noopIndex) return undefined;
    const end = Math.min(this.quorumAckedSentAt() + this.leaseMs, now + this.leaseMs);
    return end > now ? end : undefined;
  }

  /** When `tick` must be called next (caller's clock). */
  nextDeadline(): number {
    if (this.role !== 'leader') return this.electionDeadline;
    let at = Math.min(this.heartbeatDue, this.stepDownAt());
    if (this.transferee !== undefined) at = Math.min(at, this.transferDeadline);
    return at;
  }

  status(): RaftStatus {
    const status: RaftStatus = {
      id: this.id,
      role: this.role,
      term: this.term,
      leader: this.leader,
      commit: this.commit,
      applied: this.applied,
      voters: [...this.voters],
      lastIndex: this.log.lastIndex(),
      token: this.token,
    };
    if (this.role === 'leader') {
      const progress: NonNullable<RaftStatus['progress']> = {};
      for (const [id, pr] of this.progress) {
        progress[id] = { match: pr.match, next: pr.next, active: pr.lastHeardAt !== undefined };
      }
      status.progress = progress;
      if (this.transferee !== undefined) status.transferee = this.transferee;
    }
    return status;
  }

  // ---------------------------------------------------------------- elections

  private promotable(): boolean {
    return this.voters.includes(this.id);
  }

  /** Leader stickiness: refuse (pre)votes while a live leader is (or was just) in charge. */
  private inLease(now: number): boolean {
    if (this.opts.unsafe?.noStickiness) return false;
    return this.role === 'leader' || now - this.lastHeardLeaderAt < this.stickyMs;
  }

  private resetElectionTimer(now: number): void {
    // Never before the sticky window ends: this node's own (pre)vote must not go to a campaign
    // while a lease it acknowledged may still run.
    this.electionDeadline = now + this.stickyMs + this.opts.random.next() * this.electionMs;
  }

  private campaign(now: number, transfer: boolean): void {
    if (this.opts.unsafe?.noPreVote || transfer) this.becomeCandidate(now, transfer);
    else this.becomePreCandidate(now);
  }

  private becomeFollower(term: number, leader: NodeId | undefined, now: number): void {
    if (term > this.term) {
      this.term = term;
      this.vote = undefined;
    }
    this.role = 'follower';
    this.leader = leader;
    this.votes.clear();
    this.progress.clear();
    this.pendingReads = [];
    this.transferee = undefined;
    if (leader !== undefined) this.lastHeardLeaderAt = now;
    this.resetElectionTimer(now);
  }

  private followLeader(leader: NodeId, now: number): void {
    if (this.role !== 'follower' || this.leader !== leader) this.becomeFollower(this.term, leader, now);
    this.lastHeardLeaderAt = now;
    this.resetElectionTimer(now);
  }

  private becomePreCandidate(now: number): void {
    this.role = 'precandidate';
    this.leader = undefined;
    this.votes = new Map([[this.id, true]]);
    this.resetElectionTimer(now);
    if (voteResult(this.voters, this.votes) === 'won') {
      this.becomeCandidate(now, false);
      return;
    }
    this.requestVotes('prevote', this.term + 1, false);
  }

  private becomeCandidate(now: number, transfer: boolean): void {
    this.term++;
    this.vote = this.id;
    this.role = 'candidate';
    this.leader = undefined;
    this.votes = new Map([[this.id, true]]);
    this.resetElectionTimer(now);
    if (voteResult(this.voters, this.votes) === 'won') {
      this.becomeLeader(now);
      return;
    }
    this.requestVotes('vote', this.term, transfer);
  }

  private requestVotes(type: 'prevote' | 'vote', term: number, transfer: boolean): void {
    for (const to of this.voters) {
      if (to === this.id) continue;
      this.msgs.push({
        type,
        from: this.id,
        to,
        term,
        lastIndex: this.log.lastIndex(),
        lastTerm: this.log.lastTerm(),
        transfer,
      });
    }
  }

  private handleVoteRequest(msg: Extract<RaftMessage, { type: 'prevote' | 'vote' }>, now: number): void {
    const pre = msg.type === 'prevote';
    const canVote =
      this.vote === msg.from ||
      (this.vote === undefined && this.leader === undefined) ||
      (pre && msg.term > this.term && (msg.transfer || !this.inLease(now)));
    const respType = pre ? 'prevoteResp' : 'voteResp';
    if (canVote && this.log.isUpToDate(msg.lastIndex, msg.lastTerm)) {
      this.msgs.push({ type: respType, from: this.id, to: msg.from, term: msg.term, reject: false });
      if (!pre) {
        this.vote = msg.from;
        this.resetElectionTimer(now);
      }
    } else {
      this.send({ type: respType, to: msg.from, reject: true });
    }
  }

  private handleVoteResponse(msg: Extract<RaftMessage, { type: 'prevoteResp' | 'voteResp' }>, now: number): void {
    const pre = msg.type === 'prevoteResp';
    // A granted prevote carries the campaign's term (ours + 1); a refusal carries the voter's own.
    const current = pre ? msg.term === this.term + 1 || (msg.reject && msg.term === this.term) : true;
    if (!current || this.role !== (pre ? 'precandidate' : 'candidate')) return;
    this.votes.set(msg.from, !msg.reject);
    const result = voteResult(this.voters, this.votes);
    if (result === 'won') {
      if (pre) this.becomeCandidate(now, false);
      else this.becomeLeader(now);
    } else if (result === 'lost') {
      this.becomeFollower(this.term, undefined, now);
    }
  }

  private becomeLeader(now: number): void {
    this.role = 'leader';
    this.leader = this.id;
    this.votes.clear();
    this.progress.clear();
    this.becameLeaderAt = now;
    this.lastRoundAt = Number.NEGATIVE_INFINITY;
    this.transferee = undefined;
    this.pendingReads = [];
    const next = this.log.lastIndex() + 1;
    for (const v of this.voters) if (v !== this.id) this.progress.set(v, new Progress(next));
    this.noopIndex = this.appendOwn('noop', EMPTY);
    this.heartbeatDue = now + this.heartbeatMs;
    this.lastRoundAt = now;
    this.bcastAppend(now);
  }

  // ---------------------------------------------------------------- replication (follower)

  private handleAppend(msg: Extract<RaftMessage, { type: 'append' }>): void {
    const reply = (reject: boolean, index: number, hint = 0) =>
      this.send({ type: 'appendResp', to: msg.from, reject, index, hint, ctx: msg.ctx });
    if (msg.prevIndex < this.commit) {
      reply(false, this.commit);
      return;
    }
    if (!this.log.matchTerm(msg.prevIndex, msg.prevTerm)) {
      // Skip back over the whole conflicting term at once (etcd's findConflictByTerm).
      let hint = Math.min(msg.prevIndex, this.log.lastIndex());
      while (hint > this.commit && (this.log.term(hint) ?? 0) > msg.prevTerm) hint--;
      reply(true, msg.prevIndex, hint);
      return;
    }
    const firstNew = msg.entries[0]?.index ?? Number.POSITIVE_INFINITY;
    const result = this.log.appendFrom(msg.entries, this.commit);
    if (result === 'refused') return;
    if (result === 'truncated' || this.configIndex >= firstNew || msg.entries.some((e) => e.kind === 'config')) {
      this.recomputeConfig();
    }
    const lastNew = msg.prevIndex + msg.entries.length;
    this.commitTo(Math.min(msg.commit, lastNew));
    reply(false, lastNew);
  }

  private handleSnapshot(msg: Extract<RaftMessage, { type: 'snapshot' }>): void {
    const snap = msg.snapshot;
    const reply = (index: number) =>
      this.send({ type: 'appendResp', to: msg.from, reject: false, index, hint: 0, ctx: msg.ctx });
    if (snap.index <= this.commit) {
      reply(this.commit);
      return;
    }
    if (this.log.matchTerm(snap.index, snap.term)) {
      // We hold the snapshot's entries: just commit up to it.
      this.commitTo(snap.index);
      reply(snap.index);
      return;
    }
    this.log.restore(snap);
    this.commit = snap.index;
    this.handedCommit = snap.index;
    this.token = snap.token;
    this.voters = [...snap.voters];
    this.configIndex = snap.index;
    this.pendingSnapshot = snap;
    reply(snap.index);
  }

  private commitTo(index: number): void {
    if (index <= this.commit) return;
    const old = this.commit;
    this.commit = index;
    this.scanTokens(old + 1, index);
  }

  /** The token is the index of the latest committed noop (a leadership's first entry). */
  private scanTokens(from: number, to: number): void {
    for (let i = Math.max(from, this.log.firstIndex()); i <= to; i++) {
      if (this.log.entry(i)?.kind === 'noop') this.token = Math.max(this.token, i);
    }
  }

  // ---------------------------------------------------------------- replication (leader)

  private appendOwn(kind: Entry['kind'], data: Uint8Array): number {
    const index = this.log.lastIndex() + 1;
    this.log.append({ index, term: this.term, kind, data });
    if (kind === 'config') {
      const voters = decodeConfig(data);
      if (voters) this.applyConfig(voters, index);
    }
    return index;
  }

  private bcastAppend(now: number): void {
    for (const id of this.progress.keys()) this.sendAppend(id, now);
    this.lastRoundAt = now;
  }

  private bcastHeartbeat(now: number): void {
    for (const [to, pr] of this.progress) {
      if (pr.state === 'probe') pr.paused = false;
      if (pr.state === 'snapshot' && now - pr.snapshotSentAt >= this.electionMs) pr.becomeProbe();
      this.send({ type: 'heartbeat', to, commit: Math.min(pr.match, this.commit), ctx: now });
    }
    this.lastRoundAt = now;
  }

  private sendAppend(to: NodeId, now: number): void {
    const pr = this.progress.get(to);
    if (!pr || pr.state === 'snapshot' || (pr.state === 'probe' && pr.paused)) return;
    pr.next = Math.min(pr.next, this.log.lastIndex() + 1);
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) {
      const snap = this.log.snapshot;
      if (!snap) return;
      pr.becomeSnapshot(snap.index, now);
      this.send({ type: 'snapshot', to, snapshot: snap, ctx: now });
      return;
    }
    const entries = this.log.slice(pr.next, pr.next + this.maxEntries - 1, this.maxBytes);
    this.send({ type: 'append', to, prevIndex, prevTerm, entries, commit: this.commit, ctx: now });
    if (pr.state === 'replicate') {
      const last = entries.at(-1);
      if (last) pr.next = last.index + 1;
    } else {
      pr.paused = true;
    }
  }

  private handleAppendResponse(msg: Extract<RaftMessage, { type: 'appendResp' }>, now: number): void {
    const pr = this.progress.get(msg.from);
    if (!pr) return;
    pr.ack(msg.ctx, now);
    if (msg.reject) {
      if (pr.maybeDecrement(msg.index, msg.hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(msg.from, now);
      }
    } else if (pr.maybeUpdate(msg.index)) {
      if (pr.state === 'probe' || (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot)) {
        pr.becomeReplicate();
      }
      if (this.maybeCommit()) this.onCommitted(now);
      if (this.role !== 'leader') return;
      if (msg.from === this.transferee && pr.match === this.log.lastIndex()) {
        this.sendTimeoutNow(now);
        return;
      }
      if (pr.next <= this.log.lastIndex()) this.sendAppend(msg.from, now);
    }
    this.releaseReads();
  }

  private handleHeartbeatResponse(msg: Extract<RaftMessage, { type: 'heartbeatResp' }>, now: number): void {
    const pr = this.progress.get(msg.from);
    if (!pr) return;
    pr.ack(msg.ctx, now);
    if (pr.state !== 'snapshot' && pr.match < this.log.lastIndex()) {
      // Whatever was in flight may be lost: resend from the match.
      pr.next = pr.match + 1;
      pr.paused = false;
      this.sendAppend(msg.from, now);
    }
    this.releaseReads();
  }

  /** Commits the majority's match if it is of the current term (Raft never counts older terms' replicas). */
  private maybeCommit(): boolean {
    const index = quorumValue(this.voters, (id) =>
      id === this.id ? this.log.stableLast : this.progress.get(id)?.match,
    );
    if (index <= this.commit || this.log.term(index) !== this.term) return false;
    this.commitTo(index);
    return true;
  }

  /** Tells followers the new commit at once; a leader removed from the configuration leaves once the removal is committed. */
  private onCommitted(now: number): void {
    this.bcastAppend(now);
    if (this.configIndex <= this.commit && !this.voters.includes(this.id))
      this.becomeFollower(this.term, undefined, now);
  }

  private sendTimeoutNow(now: number): void {
    const to = this.transferee!;
    this.send({ type: 'timeoutNow', to });
    this.becomeFollower(this.term, undefined, now);
  }

  /** Has `id` answered within an election timeout (the leader's view)? */
  private recentlyActive(id: NodeId, now: number): boolean {
    const at = this.progress.get(id)?.lastHeardAt;
    return at !== undefined && now - at < this.electionMs;
  }

  // ---------------------------------------------------------------- lease and reads

  /** The send time of the newest round a majority acknowledged (the leader counts as always acknowledging). */
  private quorumAckedSentAt(): number {
    return quorumValue(this.voters, (id) =>
      id === this.id ? Number.POSITIVE_INFINITY : this.progress.get(id)?.ackedSentAt,
    );
  }

  /** CheckQuorum, tightened to the lease: with no majority acknowledgement within the lease, step down. */
  private stepDownAt(): number {
    return Math.max(this.becameLeaderAt, this.quorumAckedSentAt()) + this.leaseMs;
  }

  private serveRead(id: string, now: number, from: NodeId | undefined): void {
    if (this.leaseValidUntil(now) !== undefined) {
      this.releaseRead({ id, index: this.commit, sentAfter: now, strict: false, from });
      return;
    }
    // Confirmed by a round sent AFTER the request. A round already sent at this very instant
    // went out before it, so then only a later round counts (due in a millisecond).
    const strict = this.lastRoundAt >= now;
    this.pendingReads.push({ id, index: this.commit, sentAfter: now, strict, from });
    if (strict) this.heartbeatDue = Math.min(this.heartbeatDue, now + 1);
    else this.bcastHeartbeat(now);
    this.releaseReads();
  }

  private releaseReads(): void {
    if (this.pendingReads.length === 0) return;
    const acked = this.quorumAckedSentAt();
    while (this.pendingReads.length > 0) {
      const read = this.pendingReads[0]!;
      if (read.strict ? acked <= read.sentAfter : acked < read.sentAfter) break;
      this.releaseRead(this.pendingReads.shift()!);
    }
  }

  private releaseRead(read: PendingRead): void {
    if (read.from === undefined) this.readStates.push({ id: read.id, index: read.index });
    else this.send({ type: 'readIndexResp', to: read.from, id: read.id, index: read.index });
  }

  // ---------------------------------------------------------------- configuration

  private applyConfig(voters: NodeId[], index: number): void {
    this.voters = voters;
    this.configIndex = index;
    if (this.role !== 'leader') return;
    for (const v of voters) {
      if (v !== this.id && !this.progress.has(v)) this.progress.set(v, new Progress(this.log.lastIndex()));
    }
    for (const id of this.progress.keys()) if (!voters.includes(id)) this.progress.delete(id);
  }

  /** The latest configuration in the log (committed or not), else the snapshot's, else the initial one. */
  private recomputeConfig(): void {
    for (let i = this.log.lastIndex(); i >= this.log.firstIndex(); i--) {
      const e = this.log.entry(i)!;
      if (e.kind !== 'config') continue;
      const voters = decodeConfig(e.data);
      if (voters) {
        this.applyConfig(voters, i);
        return;
      }
    }
    const snap = this.log.snapshot;
    this.applyConfig(snap ? [...snap.voters] : [...this.opts.voters], snap?.index ?? 0);
  }

  private configAt(index: number): NodeId[] {
    for (let i = index; i >= this.log.firstIndex(); i--) {
      const e = this.log.entry(i)!;
      if (e.kind === 'config') {
        const voters = decodeConfig(e.data);
        if (voters) return voters;
      }
    }
    return this.log.snapshot ? [...this.log.snapshot.voters] : [...this.opts.voters];
  }

  private tokenAt(index: number): number {
    for (let i = index; i >= this.log.firstIndex(); i--) if (this.log.entry(i)!.kind === 'noop') return i;
    return this.log.snapshot?.token ?? 0;
  }

  // ---------------------------------------------------------------- plumbing

  private send(msg: Outgoing): void {
    this.msgs.push({ ...msg, from: this.id, term: this.term } as RaftMessage);
  }

  private hardChanged(): boolean {
    const h = this.handedHard;
    return h.term !== this.term || h.vote !== this.vote || h.commit !== this.commit;
  }

  private roleChanged(): boolean {
    const r = this.reported;
    return !r || r.role !== this.role || r.leader !== this.leader || r.term !== this.term;
  }
}
