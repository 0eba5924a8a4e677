/**
 * The public shapes of the Raft core (the contract with the agent integration, see
 * ELECTION-CONTRACT.md). The core is sans-I/O: the caller feeds messages and ticks in and drains a
 * `Ready` (disk writes, messages, committed entries, events) out, in the style of etcd-io/raft's
 * RawNode. All times are milliseconds on the CALLER's monotonic clock (`Runtime.clock.now()`).
 */
import type { Random } from '../../runtime/index.ts';

/** A voter's id: the agent's node name. */
export type NodeId = string;

/**
 * One log entry. `noop` is the entry a new leader appends at the start of its term (its index,
 * once committed, is the leadership's fencing token); `config` carries a configuration (see
 * `decodeConfig`); `normal` carries the state machine's command, opaque to the core.
 */
export interface Entry {
  index: number;
  term: number;
  kind: EntryKind;
  data: Uint8Array;
}
export type EntryKind = 'normal' | 'config' | 'noop';

/** What must survive a crash besides the log: persisted (fsync) before any message in the same Ready is sent. */
export interface HardState {
  term: number;
  vote: NodeId | undefined;
  commit: number;
}

/**
 * A snapshot of the state machine at `index`. `voters` is the configuration in force at `index`
 * and `token` the fencing token in force at `index` (0 when no leader's noop was committed yet).
 */
export interface Snapshot {
  index: number;
  term: number;
  voters: NodeId[];
  token: number;
  data: Uint8Array;
}

/** Fields every message carries. `term` is the sender's term (for prevotes: the term it would campaign in). */
interface Envelope {
  from: NodeId;
  to: NodeId;
  term: number;
}

/**
 * The wire messages between voters. `ctx` on append/heartbeat/snapshot is the leader's local send
 * time, echoed in the response: the leader's lease and read index count acknowledgements by the
 * time the acknowledged round was SENT, never by when the ack arrived.
 */
export type RaftMessage =
  /** A (pre)vote request. `transfer` marks a campaign started by TimeoutNow: it bypasses leader stickiness. */
  | (Envelope & { type: 'prevote' | 'vote'; lastIndex: number; lastTerm: number; transfer: boolean })
  | (Envelope & { type: 'prevoteResp' | 'voteResp'; reject: boolean })
  | (Envelope & {
      type: 'append';
      prevIndex: number;
      prevTerm: number;
      entries: Entry[];
      commit: number;
      ctx: number;
    })
  /** `index`: the follower's match on success; on reject the probed index, with `hint` its last index. */
  | (Envelope & { type: 'appendResp'; reject: boolean; index: number; hint: number; ctx: number })
  | (Envelope & { type: 'heartbeat'; commit: number; ctx: number })
  | (Envelope & { type: 'heartbeatResp'; ctx: number })
  | (Envelope & { type: 'snapshot'; snapshot: Snapshot; ctx: number })
  | (Envelope & { type: 'timeoutNow' })
  /** A follower's read-index request forwarded to the leader; answered by readIndexResp (index 0 = refused). */
  | (Envelope & { type: 'readIndex'; id: string })
  | (Envelope & { type: 'readIndexResp'; id: string; index: number });
export type RaftMessageType = RaftMessage['type'];

export type Role = 'leader' | 'follower' | 'candidate' | 'precandidate';

/** A change of role, leader or term, reported once per change. */
export interface RoleChange {
  role: Role;
  leader: NodeId | undefined;
  term: number;
}

/** A linearizable read is ready once the state machine has applied `index` (0: the leader refused; retry). */
export interface ReadState {
  id: string;
  index: number;
}

/**
 * Work for the caller, to be done IN THIS ORDER, then acknowledged with `advance(ready)`:
 * 1. `snapshot` (from the leader): install into the state machine and persist; it REPLACES the
 *    whole persisted log (it is only sent when this log lacks the snapshot's last entry).
 * 2. `compacted`: persist (the state machine already holds it); the log up to its index may be dropped.
 * 3. `entries`: persist; they REPLACE every persisted entry whose index >= entries[0].index.
 * 4. `hardState`: persist. fsync 1-4 before step 5.
 * 5. `messages`: send (each may be lost; the core retries).
 * 6. `committed`: apply to the state machine in order (config entries included: the core already
 *    acts on them; the caller may watch them).
 * 7. `readStates`: answer each once the state machine has applied its index.
 * `role` is set when the role, leader or term changed since the previous Ready.
 * No further Ready is produced until `advance` is called.
 */
export interface Ready {
  snapshot?: Snapshot;
  compacted?: Snapshot;
  entries: Entry[];
  hardState?: HardState;
  messages: RaftMessage[];
  committed: Entry[];
  readStates: ReadState[];
  role?: RoleChange;
}

/** What a restarted node reads back from disk. `entries` follow `snapshot` (if any) without gaps. */
export interface RaftStorage {
  hardState: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
}

export interface RaftOptions {
  id: NodeId;
  /**
   * The initial configuration, used only when storage holds none (no snapshot and no config
   * entry). A node that is not among its voters never campaigns: a voter being added starts with
   * `voters: []` and waits for the leader.
   */
  voters: NodeId[];
  /**
   * Base election timeout. Each wait is drawn in [base*(1+drift), base*(2+drift)) from `random`:
   * never before the sticky window ends. A (re)started node is sticky for that window too.
   */
  electionTimeoutMs: number;
  /** Leader heartbeat interval; must be well below electionTimeoutMs*(1-maxClockDrift). */
  heartbeatMs: number;
  /**
   * Bound on how far any node's clock RATE may differ from real time (0.05: each clock runs at
   * 1 +/- 5%). The lease lasts electionTimeout*(1-maxClockDrift) on the leader's clock from the send
   * of the acknowledged round (at most electionTimeout of real time), while voters refuse votes for
   * electionTimeout*(1+maxClockDrift) on theirs after hearing from the leader (at least
   * electionTimeout of real time): the old lease ends before a new leader can be elected.
   */
  maxClockDrift: number;
  random: Random;
  /** Restored state after a restart; omit for a fresh node. */
  storage?: RaftStorage;
  /** Bounds on one append message (entries and bytes); defaults 64 entries, 256 KiB. */
  maxEntriesPerMessage?: number;
  maxBytesPerMessage?: number;
  /**
   * Deliberate rule breaks, ONLY for the simulator's mutation tests (proof that the checker
   * catches them). Never set in production.
   */
  unsafe?: UnsafeOptions;
}

export interface UnsafeOptions {
  /** Multiplies the lease duration (>1 extends the lease past the drift bound). */
  leaseFactor?: number;
  /** Grant votes and prevotes even while a live leader was heard recently. */
  noStickiness?: boolean;
  /** Skip PreVote (a rejoining node disrupts with a real term bump). */
  noPreVote?: boolean;
}

export interface ConfChange {
  add?: NodeId;
  remove?: NodeId;
}

export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: number;
  leader: NodeId | undefined;
  commit: number;
  applied: number;
  /** Voters of the latest configuration in the log (committed or not). */
  voters: NodeId[];
  lastIndex: number;
  /** The fencing token of the latest committed leadership (its noop's index), 0 if none yet. */
  token: number;
  /** Leader only: the follower progress (match index) by voter. */
  progress?: Record<NodeId, { match: number; next: number; active: boolean }>;
  /** Leader only: the transfer target while a leadership transfer is in progress. */
  transferee?: NodeId;
}

/** Reasons `propose`/`proposeConfChange`/`readIndex`/`transferLeadership` refuse, for the caller's error text. */
export type RefuseReason =
  | 'not-leader'
  | 'transferring'
  | 'no-commit-in-term'
  | 'config-pending'
  | 'would-lose-quorum'
  | 'unknown-voter'
  | 'already-voter'
  | 'no-leader';

/** The answer of a request the leader may refuse. */
export type Outcome<T extends object = object> = ({ ok: true } & T) | { ok: false; reason: RefuseReason };
