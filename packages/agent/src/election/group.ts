// One election group on this agent: drives a Raft core (election/raft) with the runtime seam,
// the group's durable storage and a transport, applies committed entries to the state machine, and
// turns leadership into action through a LeadershipActor, only while the lease is valid.
//
// The acting rule (the point of the whole plane):
//   act     once this node leads, its term's noop is committed (the token is known) and the lease
//           has more than `demoteBeforeLeaseEndMs` left;
//   demote  as soon as that stops holding: the lease ran low without a renewal, leadership was
//           lost, or a step-down was asked for. The actor gets a deadline `killMarginMs` before the
//           last lease end this node ever saw, and must have stopped everything by then (OnDemote
//           killed at the deadline, a lock's CMD SIGKILLed). No other voter can be elected before
//           that lease end (the core's stickiness), so two actors never overlap.
// A timer fires at the instant the lease runs low, so demotion starts on time even when no message
// arrives at all (a partition).

import { EventEmitter } from 'node:events';
import type { Logger } from '../log.ts';
import type { Runtime, TimerHandle } from '../runtime/index.ts';
import type { GroupStorage } from './group-storage.ts';
import { RaftNode } from './raft/raft-node.ts';
import type { ConfChange, Entry, NodeId, RaftMessage, RaftStatus, Ready, Role } from './raft/types.ts';
import type { ElectionTiming } from './timing.ts';

/** What a group's committed normal entries are applied to (the KV store). */
export interface StateMachine {
  apply(entry: Entry): unknown;
  snapshot(): Uint8Array;
  restore(data: Uint8Array): void;
}

/** Sends one Raft message of this group; delivery is best effort (the core retries). */
export type SendMessage = (msg: RaftMessage) => void;

export interface LeadershipFacts {
  readonly token: number;
  readonly term: number;
}

/** What leadership is turned into: hooks for a service, a lock holder's CMD, an SDK callback. */
export interface LeadershipActor {
  /** Starts acting; resolves when the leader is fully in charge (OnPromote has run). */
  promote(facts: LeadershipFacts): Promise<void>;
  /** Stops acting; must resolve by `deadline` (runtime clock), everything stopped. */
  demote(facts: LeadershipFacts, deadline: number): Promise<void>;
}

export type ActingState = 'standby' | 'promoting' | 'acting' | 'demoting';

export interface GroupOptions {
  readonly group: string;
  readonly self: NodeId;
  readonly runtime: Runtime;
  readonly storage: GroupStorage;
  readonly send: SendMessage;
  /** The bootstrap configuration (this node bootstraps the group) or [] (wait for a leader). */
  readonly voters: readonly NodeId[];
  readonly timing: ElectionTiming;
  readonly stateMachine: StateMachine;
  readonly actor: LeadershipActor;
  readonly log: Logger;
  /** Leader only, every reconfigureIntervalMs: the next single-server change, if one is due. */
  readonly planChange?: (status: RaftStatus) => ConfChange | undefined;
  /**
   * The candidates (nodes that can act: they host the service or hold the lock request). A
   * witness that wins an election hands the lead to one of them at once, without acting.
   */
  readonly candidates?: () => readonly NodeId[];
}

export interface GroupStatus {
  readonly group: string;
  readonly role: Role;
  readonly term: number;
  readonly leader: NodeId | undefined;
  /** The latest committed leadership's fencing token (0: none yet). */
  readonly token: number;
  readonly commit: number;
  readonly applied: number;
  readonly voters: readonly NodeId[];
  readonly acting: ActingState;
  /** Leader: ms of lease left now (0 when it holds none). */
  readonly leaseRemainingMs: number;
  /**
   * While acting: ms until the latest lease end this leadership was granted (a granted lease
   * stays valid until its end unless the lead is handed over, and a hand-over demotes first);
   * 0 otherwise. What a lock holder may be granted.
   */
  readonly actingForMs: number;
  /** Wall-clock ms of the last change of leader, role or acting state. */
  readonly lastChange: number;
  readonly leaderChanges: number;
}

export class GroupError extends Error {
  override readonly name = 'GroupError';
  /** 503: not the leader (with the leader if known), 409: CAS-like refusals, 504: timed out. */
  readonly statusCode: number;
  readonly leader: NodeId | undefined;
  constructor(statusCode: number, message: string, leader?: NodeId) {
    super(message);
    this.statusCode = statusCode;
    this.leader = leader;
  }
}

interface Pending {
  readonly term: number;
  resolve(result: unknown): void;
  reject(err: Error): void;
}

export class ElectionGroup extends EventEmitter<{ change: [GroupStatus] }> {
  readonly group: string;
  private readonly opts: GroupOptions;
  private readonly clock: Runtime['clock'];
  private readonly node: RaftNode;
  private timer: TimerHandle | undefined;
  private reconfigureTimer: TimerHandle | undefined;
  private acting: ActingState = 'standby';
  private actingFacts: LeadershipFacts | undefined;
  /** The latest instant any lease of ours ran to: the demotion deadline is measured from it. */
  private leaseEnd = Number.NEGATIVE_INFINITY;
  private steppingDown = false;
  private stopped = false;
  private pumping = false;
  private readonly pending = new Map<number, Pending>();
  private readonly reads = new Map<string, { resolve(): void; reject(err: Error): void; index?: number }>();
  private readSeq = 0;
  private applied = 0;
  private snapshotIndex = 0;
  private lastChange: number;
  private leaderChanges = 0;
  private lastLeader: NodeId | undefined;

  constructor(opts: GroupOptions) {
    super();
    this.opts = opts;
    this.group = opts.group;
    this.clock = opts.runtime.clock;
    this.lastChange = this.clock.wallNow();
    const storage = opts.storage.load();
    if (storage?.snapshot) {
      opts.stateMachine.restore(storage.snapshot.data);
      this.applied = storage.snapshot.index;
      this.snapshotIndex = storage.snapshot.index;
    }
    this.node = new RaftNode(
      {
        id: opts.self,
        voters: [...opts.voters],
        electionTimeoutMs: opts.timing.electionTimeoutMs,
        heartbeatMs: opts.timing.heartbeatMs,
        maxClockDrift: opts.timing.maxClockDrift,
        random: opts.runtime.random,
        ...(storage ? { storage } : {}),
      },
      this.clock.now(),
    );
    this.pump();
    this.scheduleReconfigure();
  }

  /** An inbound message for this group (already decoded and validated). */
  receive(msg: RaftMessage): void {
    if (this.stopped || msg.to !== this.opts.self) return;
    this.node.step(msg, this.clock.now());
    this.pump();
  }

  /** Appends a command; resolves with the state machine's result once it is applied here. */
  propose(data: Uint8Array): Promise<unknown> {
    const out = this.node.propose(data, this.clock.now());
    if (!out.ok) return Promise.reject(this.refusal(out.reason));
    const term = this.node.status().term;
    const done = new Promise<unknown>((resolve, reject) => this.pending.set(out.index, { term, resolve, reject }));
    this.pump();
    return done;
  }

  /**
   * Resolves once the state machine reflects every write committed before the call (a linearizable
   * read). A leader holding its lease answers at once when everything committed is applied; otherwise
   * a read index goes round the group (a follower's is forwarded to the leader by the core).
   */
  linearize(): Promise<void> {
    const now = this.clock.now();
    const st = this.node.status();
    const lease = st.role === 'leader' ? this.node.leaseValidUntil(now) : undefined;
    if (lease !== undefined && lease > now && this.applied >= st.commit) return Promise.resolve();
    const id = `${this.opts.self}/${++this.readSeq}`;
    const out = this.node.readIndex(id, now);
    if (!out.ok) return Promise.reject(this.refusal(out.reason));
    const done = new Promise<void>((resolve, reject) => this.reads.set(id, { resolve, reject }));
    this.pump();
    return done;
  }

  /** Graceful switchover (patronictl switchover): stop acting first, then hand the lead over. */
  async stepDown(to?: NodeId): Promise<void> {
    const st = this.node.status();
    if (st.role !== 'leader') throw new GroupError(503, `this agent does not lead ${this.group}`, st.leader);
    this.steppingDown = true;
    try {
      if (this.acting === 'promoting' || this.acting === 'acting') await this.demote();
      else await this.demotion;
      const out = this.node.transferLeadership(to, this.clock.now());
      this.pump();
      if (!out.ok) throw this.refusal(out.reason);
    } finally {
      // Hold off re-promotion for one election timeout: the transferee campaigns meanwhile.
      this.opts.runtime.timers.after(this.opts.timing.electionTimeoutMs * 2, () => {
        this.steppingDown = false;
        this.evaluate();
      });
    }
  }

  status(): GroupStatus {
    const now = this.clock.now();
    const st = this.node.status();
    const lease = st.role === 'leader' ? this.node.leaseValidUntil(now) : undefined;
    return {
      group: this.group,
      role: st.role,
      term: st.term,
      leader: st.leader,
      token: st.token,
      commit: st.commit,
      applied: this.applied,
      voters: st.voters,
      acting: this.acting,
      leaseRemainingMs: lease !== undefined && lease > now ? Math.round(lease - now) : 0,
      actingForMs: this.acting === 'acting' ? Math.max(0, Math.floor(this.leaseEnd - now)) : 0,
      lastChange: this.lastChange,
      leaderChanges: this.leaderChanges,
    };
  }

  /** The claim this node publishes while it acts as leader (routing follows the highest token). */
  claim(): LeadershipFacts | undefined {
    return this.acting === 'acting' ? this.actingFacts : undefined;
  }

  raftStatus(): RaftStatus {
    return this.node.status();
  }

  /** Stops acting (within the lease), hands leadership over if it can, and closes the storage. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    if (this.node.status().role === 'leader') await this.stepDown().catch(() => {});
    await this.demotion;
    this.stopped = true;
    this.timer?.cancel();
    this.reconfigureTimer?.cancel();
    const gone = new GroupError(503, `election group ${this.group} stopped`);
    for (const p of this.pending.values()) p.reject(gone);
    for (const r of this.reads.values()) r.reject(gone);
    this.pending.clear();
    this.reads.clear();
    this.opts.storage.close();
  }

  // ---- the loop ------------------------------------------------------------------------------

  private pump(): void {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    try {
      while (this.node.hasReady()) this.handle(this.node.ready());
    } finally {
      this.pumping = false;
    }
    this.evaluate();
    this.schedule();
  }

  private handle(ready: Ready): void {
    // 1-4: durable before anything is sent (group-storage fsyncs synchronously).
    if (ready.snapshot) {
      this.opts.stateMachine.restore(ready.snapshot.data);
      this.applied = ready.snapshot.index;
      this.snapshotIndex = ready.snapshot.index;
    }
    this.opts.storage.persist(ready);
    if (ready.compacted) this.snapshotIndex = ready.compacted.index;
    for (const msg of ready.messages) this.opts.send(msg);
    for (const entry of ready.committed) this.apply(entry);
    for (const rs of ready.readStates) {
      const r = this.reads.get(rs.id);
      if (r) r.index = rs.index;
    }
    this.settleReads();
    if (ready.role) this.onRole(ready.role.role, ready.role.leader);
    this.node.advance(ready, this.clock.now());
    this.maybeCompact();
  }

  private apply(entry: Entry): void {
    const result = entry.kind === 'normal' ? this.opts.stateMachine.apply(entry) : undefined;
    this.applied = Math.max(this.applied, entry.index);
    const p = this.pending.get(entry.index);
    if (p === undefined) return;
    this.pending.delete(entry.index);
    if (entry.term === p.term && entry.kind === 'normal') p.resolve(result);
    else p.reject(new GroupError(503, 'leadership changed before the write committed; it was not applied'));
  }

  private settleReads(): void {
    for (const [id, r] of this.reads) {
      if (r.index === undefined) continue;
      if (r.index === 0) {
        this.reads.delete(id);
        r.reject(new GroupError(503, 'the leader refused the read (no lease or no commit in its term yet); retry'));
      } else if (this.applied >= r.index) {
        this.reads.delete(id);
        r.resolve();
      }
    }
  }

  private onRole(role: Role, leader: NodeId | undefined): void {
    if (leader !== this.lastLeader) {
      if (leader !== undefined) this.leaderChanges++;
      this.lastLeader = leader;
    }
    this.lastChange = this.clock.wallNow();
    if (role !== 'leader') {
      const lost = new GroupError(503, 'leadership lost before the write committed; its outcome is unknown', leader);
      for (const p of this.pending.values()) p.reject(lost);
      this.pending.clear();
    }
    this.emitChange();
  }

  private maybeCompact(): void {
    if (this.applied - this.snapshotIndex < this.opts.timing.compactEvery) return;
    if (this.node.compact(this.applied, this.opts.stateMachine.snapshot())) this.snapshotIndex = this.applied;
  }

  // ---- acting on the lease -------------------------------------------------------------------

  private demotion: Promise<void> = Promise.resolve();

  private evaluate(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    const st = this.node.status();
    const until = st.role === 'leader' ? this.node.leaseValidUntil(now) : undefined;
    if (until !== undefined) this.leaseEnd = Math.max(this.leaseEnd, until);
    const candidates = this.opts.candidates?.();
    const mayAct = candidates === undefined || candidates.includes(this.opts.self);
    if (st.role === 'leader' && !mayAct && st.token > 0 && !this.steppingDown) this.handOver(st, candidates ?? []);
    const secure =
      mayAct &&
      until !== undefined &&
      until - now > this.opts.timing.demoteBeforeLeaseEndMs &&
      st.token > 0 &&
      !this.steppingDown;
    if (secure && this.acting === 'standby') {
      this.promote({ token: st.token, term: st.term });
    } else if (
      (this.acting === 'promoting' || this.acting === 'acting') &&
      (!secure || this.actingFacts?.token !== st.token)
    ) {
      void this.demote();
    }
  }

  /** A leader that may not act passes the lead to the most caught-up candidate among the voters. */
  private handOver(st: RaftStatus, candidates: readonly NodeId[]): void {
    const targets = st.voters
      .filter((v) => v !== this.opts.self && candidates.includes(v))
      .sort((a, b) => (st.progress?.[b]?.match ?? 0) - (st.progress?.[a]?.match ?? 0));
    const to = targets[0];
    if (to === undefined) return;
    this.steppingDown = true;
    void this.demotion.then(() => {
      const out = this.node.transferLeadership(to, this.clock.now());
      this.opts.log.info({ group: this.group, to, ok: out.ok }, 'election: not a candidate; handing the lead over');
      this.pump();
      this.opts.runtime.timers.after(this.opts.timing.electionTimeoutMs, () => {
        this.steppingDown = false;
        this.evaluate();
      });
    });
  }

  private promote(facts: LeadershipFacts): void {
    this.acting = 'promoting';
    this.actingFacts = facts;
    this.lastChange = this.clock.wallNow();
    this.opts.log.info({ group: this.group, ...facts }, 'election: leading with a lease; promoting');
    this.emitChange();
    this.opts.actor.promote(facts).then(
      () => {
        if (this.acting !== 'promoting' || this.actingFacts !== facts) return;
        this.acting = 'acting';
        this.lastChange = this.clock.wallNow();
        this.emitChange();
      },
      (err: unknown) => this.opts.log.warn({ group: this.group, err }, 'election: promotion failed'),
    );
  }

  private demote(): Promise<void> {
    const facts = this.actingFacts!;
    this.acting = 'demoting';
    this.lastChange = this.clock.wallNow();
    const deadline = this.leaseEnd - this.opts.timing.killMarginMs;
    this.opts.log.info(
      { group: this.group, ...facts, budgetMs: Math.round(deadline - this.clock.now()) },
      'election: lease at risk or leadership lost; demoting',
    );
    this.emitChange();
    this.demotion = this.opts.actor
      .demote(facts, deadline)
      .catch((err: unknown) => this.opts.log.error({ group: this.group, err }, 'election: demotion failed'))
      .finally(() => {
        this.acting = 'standby';
        this.actingFacts = undefined;
        this.lastChange = this.clock.wallNow();
        this.emitChange();
        this.evaluate();
      });
    return this.demotion;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer?.cancel();
    const now = this.clock.now();
    let at = this.node.nextDeadline();
    const st = this.node.status();
    if (st.role === 'leader') {
      const until = this.node.leaseValidUntil(now);
      // Wake exactly when the lease runs low, message or no message.
      const low = until === undefined ? undefined : until - this.opts.timing.demoteBeforeLeaseEndMs;
      if (low !== undefined && low > now) at = Math.min(at, low);
    }
    if (!Number.isFinite(at)) return;
    this.timer = this.opts.runtime.timers.after(Math.max(0, at - now), () => {
      this.timer = undefined;
      if (this.stopped) return;
      this.node.tick(this.clock.now());
      this.pump();
    });
  }

  private scheduleReconfigure(): void {
    if (this.stopped || this.opts.planChange === undefined) return;
    this.reconfigureTimer = this.opts.runtime.timers.after(this.opts.timing.reconfigureIntervalMs, () => {
      this.reconfigureTimer = undefined;
      if (this.stopped) return;
      const st = this.node.status();
      if (st.role === 'leader') {
        const change = this.opts.planChange?.(st);
        if (change) {
          const out = this.node.proposeConfChange(change, this.clock.now());
          this.opts.log.info({ group: this.group, change, ok: out.ok }, 'election: configuration change');
          this.pump();
        }
      }
      this.scheduleReconfigure();
    });
  }

  private emitChange(): void {
    this.emit('change', this.status());
  }

  private refusal(reason: string): GroupError {
    const st = this.node.status();
    if (reason === 'not-leader' || reason === 'no-leader') {
      return new GroupError(
        503,
        st.leader
          ? `this agent does not lead ${this.group}: ${st.leader} does`
          : `${this.group} has no leader now; retry`,
        st.leader,
      );
    }
    return new GroupError(503, `${this.group} refused: ${reason}; retry`, st.leader);
  }
}
