import type { Dead, Message, Ping, PushNodeState, PushPull, Suspect } from '@vigil/protocol';
import { isLive, type MemberStatus } from '../base/member-status.ts';
import { type Address, ipToBytes } from './address.ts';
import type { Awareness } from './awareness.ts';
import {
  Confirmation,
  DEFAULT_VOTER_HEALTH,
  type TcpPortState,
  type Verdicts,
  type VoterHealth,
} from './confirmation.ts';
import { DIRECT_FANOUT, EngineCore } from './engine-core.ts';
import { MemberStates } from './member-states.ts';
import { type Member, MemberTable } from './member-table.ts';
import { estimateSize } from './message-size.ts';
import type { TraceStep } from './probe-trail.ts';
import { Prober } from './probing.ts';
import { type MembershipProfile, pushPullScaleMs } from './profiles.ts';
import type { TcpPingResult } from './tcp-ping.ts';
import type { TimerQueue } from './timer-queue.ts';

export { DEFAULT_VOTER_HEALTH, isLive, type MemberStatus, type VoterHealth };

/** Push/pull's NodeStateType numbers. */
const STATE_NUMBER: Record<MemberStatus, 0 | 1 | 2 | 3> = { alive: 0, suspect: 1, dead: 2, left: 3 };

/** What this engine speaks: memberlist protocol 1..5 (current 2, as Serf runs it), delegate 2..5. */
export const DEFAULT_VSN: readonly number[] = [1, 5, 2, 2, 5, 4];

export type { Member };

/** A member as the rest of the agent sees it. */
export interface MemberView {
  readonly name: string;
  readonly addr: Address;
  readonly meta: Uint8Array;
  readonly incarnation: number;
  readonly status: MemberStatus;
  /** For a suspect: how many independent observers suspect it (the accuser included). */
  readonly confirmations: number;
  /** Suspect with at least two independent observers: routing demotes on this. */
  readonly confirmedSuspect: boolean;
  readonly stateChangeAt: number;
}

export type MembershipEventType = 'join' | 'update' | 'suspect' | 'confirmed' | 'alive' | 'dead' | 'left' | 'reap';

export interface MembershipEvent {
  readonly index: number;
  readonly type: MembershipEventType;
  readonly at: number;
  readonly member: MemberView;
}

/** What the engine asks the edge to do. */
export type Output =
  | { readonly kind: 'packet'; readonly to: Address; readonly messages: readonly Message[] }
  /** Open a TCP stream, send `state`, read the peer's push/pull back, then call handlePushPullResponse. */
  | { readonly kind: 'pushPull'; readonly id: number; readonly to: Address; readonly state: PushPull }
  /** memberlist's TCP fallback ping; report with handleTcpPingResult before `deadline`. */
  | { readonly kind: 'tcpPing'; readonly to: Address; readonly ping: Ping; readonly deadline: number };

/** Serf-style hooks for the delegate's own messages and state (for example Serf's intents). */
export interface EngineDelegate {
  localState(join: boolean): Uint8Array;
  mergeRemoteState(state: Uint8Array, join: boolean): void;
  notifyUser(payload: Uint8Array): void;
}

export interface EngineConfig {
  readonly name: string;
  /** The address peers reach us on (advertise address). */
  readonly addr: Address;
  readonly meta: Uint8Array;
  readonly profile: MembershipProfile;
  /** Seeded in the simulator, crypto-backed in the agent. */
  readonly random: () => number;
  /** Ours: members that hear a suspicion probe the suspect at once. On by default. */
  readonly collectiveConfirmation?: boolean;
  /**
   * Lifeguard's three extensions (LHM, dynamic suspicion, buddy system) plus nacks. Off gives the
   * SWIM paper's protocol with a fixed suspicion timeout: the baseline the simulator compares with.
   */
  readonly lifeguard?: boolean;
  readonly tcpPing?: boolean;
  /**
   * Ours: news of a member joining is gossiped at once rather than at the next gossip round, and a
   * join is followed by a few early push/pulls (see eagerGossip, followUpJoin). On by default; off
   * is memberlist.
   */
  readonly fastJoin?: boolean;
  /** Ours: who may confirm a suspicion (collective confirmation only). Undefined: the default. */
  readonly voterHealth?: VoterHealth | null;
  readonly vsn?: readonly number[];
  readonly delegate?: EngineDelegate;
  /** Every accusation or confirmation this engine takes in, with how it arose (verdict-log.ts). */
  readonly onSuspicion?: (suspicion: Suspect, cause: SuspicionCause) => void;
  /** Each step of probing a member (probe-trail.ts): an observer, nothing feeds back. */
  readonly onTrace?: (member: string, step: TraceStep) => void;
}

/**
 * Why the engine took in a suspicion: our own probe or confirmation probe failed (with the paths
 * tried and our health score then), a suspect message from another member, or a push/pull state.
 */
export type SuspicionCause =
  | {
      readonly kind: 'probe';
      readonly relays: number;
      readonly nacks: number;
      readonly tcp: boolean;
      /** The TCP fallback's connect was refused: nothing listened on the member's gossip port. */
      readonly refused?: boolean;
      /** With refused: when the member's kernel refused (the dial, or when we read it: refusalFromDial). */
      readonly refusedAt?: number;
      readonly health: number;
      /** How long the member had been silent before this probe failed, counted by our timer (confirmation.ts). */
      readonly silentMs: number;
      /** Rule 8's connect on an accusation: only the TCP connect was tried, no ping. */
      readonly connectOnly?: true;
    }
  | { readonly kind: 'confirm'; readonly relays: number; readonly health: number }
  | { readonly kind: 'gossip' }
  | { readonly kind: 'merge' };

/** Serf checks its reap timers every 15 s. */
const REAP_INTERVAL_MS = 15_000;
/**
 * A join's news goes out this long after it arrives, not at the next gossip round: when a cluster
 * starts at once, each of the ~3 gossip hops a join needs to reach 50 agents then costs a few ms
 * instead of half a gossip interval on average. The short wait batches a burst of joins into one
 * round. The news still obeys the transmit limit, so the traffic is memberlist's, only earlier.
 */
const EAGER_GOSSIP_DELAY_MS = 30;
/** After a join: push/pull with a random member this long after it (see followUpJoin). */
const JOIN_FOLLOW_UP_MS = [250, 750, 1500, 3000] as const;

/**
 * The SWIM + Lifeguard membership state machine, free of I/O: feed it packets, stream results and
 * the time; it returns packets and streams to send, when to wake it next, and membership events.
 */
export class SwimEngine {
  private readonly config: EngineConfig;
  private readonly profile: MembershipProfile;
  private readonly vsn: readonly number[];
  private readonly lifeguard: boolean;
  private readonly core: EngineCore;
  private readonly members: MemberTable;
  private readonly self: Member;
  private readonly timers: TimerQueue;
  private readonly awareness: Awareness;
  private readonly prober: Prober;
  private readonly states: MemberStates;
  /** Ours: collective confirmation and the voter rule; null is memberlist's behaviour. */
  private readonly confirmation: Confirmation | null;
  /** Join follow-ups are scheduled up to this time; a join before it schedules none. */
  private followUpsUntil = Number.NEGATIVE_INFINITY;
  private eagerGossipPending = false;
  /** When the gossip ticks parked for want of broadcasts (see gossipTick); undefined while ticking. */
  private gossipParkedAt: number | undefined;
  /** When the probe ticks parked for want of anyone to probe (see probeTick); undefined while ticking. */
  private probesParkedAt: number | undefined;
  /** Push/pulls in flight, by stream id: whether each was a join's (which a follow-up joins). */
  private readonly pendingStreams = new Map<number, { join: boolean; to: Address }>();
  private streamId = 0;
  private started = false;

  constructor(config: EngineConfig, now: number) {
    this.config = config;
    this.profile = config.profile;
    this.vsn = config.vsn ?? DEFAULT_VSN;
    const self: Member = {
      name: config.name,
      addr: config.addr,
      meta: config.meta,
      incarnation: 1,
      status: 'alive',
      stateChangeAt: now,
      vsn: this.vsn,
    };
    this.members = new MemberTable(self, config.random);
    this.self = self;
    this.core = new EngineCore(config, this.members, now);
    this.lifeguard = this.core.lifeguard;
    this.timers = this.core.timers;
    this.awareness = this.core.awareness;
    this.states = new MemberStates(this.core, () => this.eagerGossip());
    this.prober = new Prober(this.core, {
      canVote: (since, refused) => this.confirmation?.voteOnProbe(since, refused) ?? true,
      // Without collective confirmation (memberlist) every failed probe accuses, timed from now.
      mayAccuse: (name, incarnation, voter, sentAt) =>
        this.confirmation ? this.confirmation.mayAccuse(name, incarnation, voter, sentAt) : 0,
      accuse: (suspicion, cause) => this.states.suspectNode(suspicion, cause),
      refusalEndsProbe: () => this.confirmation?.refusalEndsProbe() ?? false,
      refusalCountsFromDial: () => this.confirmation?.refusalCountsFromDial() ?? false,
      acked: (name) => this.confirmation?.probeAcked(name),
      connectRefused: (name, incarnation, dialledAt) => this.confirmation?.connectRefused(name, incarnation, dialledAt),
      claimsProofDial: (target) => this.confirmation?.claimsProofDial(target) ?? false,
      refusalWaitsForUdp: (target) => this.confirmation?.refusalWaitsForUdp(target) ?? false,
      refusedWhileAlive: (target) => this.confirmation?.refusedWhileAlive(target),
    });
    // Our deviations from memberlist, all behind this one flag (confirmation.ts).
    const collective = config.collectiveConfirmation !== false && this.lifeguard;
    const verdicts: Verdicts = {
      suspect: (suspicion, cause) => this.states.suspectNode(suspicion, cause),
      dead: (verdict) => this.states.deadNode(verdict),
      answered: (m) => {
        this.states.clearSuspicion(m);
        this.states.setStatus(m, 'alive');
      },
    };
    const rule = config.voterHealth === undefined ? DEFAULT_VOTER_HEALTH : config.voterHealth;
    this.confirmation = collective ? new Confirmation(this.core, this.prober, verdicts, rule) : null;
    this.states.confirmation = this.confirmation;
    this.core.broadcasts.onQueued = () => this.resumeGossip();
  }

  private get now(): number {
    return this.core.now;
  }

  private set now(now: number) {
    this.core.now = now;
  }

  private get leaving(): boolean {
    return this.core.leaving;
  }

  private get outputs(): Output[] {
    return this.core.outputs;
  }

  // ---- inputs -------------------------------------------------------------------------------

  /** Starts the periodic work: probes, gossip, push/pull, reconnect and reaping. */
  start(now: number): void {
    if (this.started) return;
    this.started = true;
    this.now = now;
    this.states.broadcastAlive(this.self);
    const jitter = (ms: number) => Math.floor(this.config.random() * ms);
    this.timers.set(now + jitter(this.profile.probeIntervalMs), (t) => this.probeTick(t));
    this.timers.set(now + jitter(this.profile.gossipIntervalMs), (t) => this.gossipTick(t));
    this.timers.set(now + this.pushPullPeriod() + jitter(this.pushPullPeriod()), (t) => this.pushPullTick(t));
    this.timers.set(now + this.profile.reconnectIntervalMs + jitter(1000), (t) => this.reconnectTick(t));
    this.timers.set(now + REAP_INTERVAL_MS, (t) => this.reapTick(t));
  }

  /** Asks the edge to push/pull with each seed; returns the stream ids to await. */
  join(addrs: readonly Address[], now: number): number[] {
    this.now = now;
    return addrs.map((to) => this.startPushPull(to, true));
  }

  /**
   * Merges member states that the rest of the cluster already holds, exactly as a push/pull would,
   * except that the alive ones are not re-gossiped, since nobody needs the news, and no events are
   * emitted, since nobody reads them. The simulator starts converged clusters this way: the
   * re-gossip of a full join (N alives x retransmit limit, on every node) keeps a 1,000-node cluster
   * busy for two simulated minutes, and N^2 join events outgrow the heap at N = 10,000.
   */
  preloadMembers(nodes: readonly PushNodeState[], now: number): void {
    this.now = now;
    this.core.preloading = true;
    try {
      this.states.mergeRemoteState({ type: 'pushPull', join: false, nodes, userState: new Uint8Array(0) });
    } finally {
      this.core.preloading = false;
    }
    this.resumeProbes();
  }

  handlePacket(from: Address, messages: readonly Message[], now: number): void {
    this.now = now;
    this.confirmation?.heardFrom(from);
    for (const message of messages) this.handleMessage(from, message);
    this.resumeProbes();
  }

  /** An inbound push/pull stream: merge the peer's state and return ours for the reply. */
  handleRemotePushPull(remote: PushPull, now: number): PushPull {
    this.now = now;
    const reply = this.localPushPull(remote.join);
    this.states.mergeRemoteState(remote);
    this.resumeProbes();
    return reply;
  }

  handlePushPullResponse(id: number, remote: PushPull, now: number): void {
    this.now = now;
    const pending = this.pendingStreams.get(id);
    if (pending === undefined) return;
    this.pendingStreams.delete(id);
    this.confirmation?.tcpReached(pending.to);
    this.states.mergeRemoteState(remote);
    this.resumeProbes();
    if (pending.join && this.config.fastJoin !== false) this.followUpJoin(now);
  }

  handleStreamFailure(id: number, now: number): void {
    this.now = now;
    this.pendingStreams.delete(id);
  }

  /**
   * How a `tcpPing` output ended; `refused` only for ECONNREFUSED (tcp-ping.ts); `connected`: a
   * `failed` one whose connect was taken. Returns whether a TCP ack settled a probe whose UDP ping
   * went unanswered (a fallback that worked).
   */
  handleTcpPingResult(seqNo: number, result: TcpPingResult, now: number, connected = false): boolean {
    this.now = now;
    const dialled = this.prober.tcpPingDialled(seqNo);
    // memberlist (no confirmation) reads every refusal as a plain failure; we do so for a port that
    // refused us while its member answered over UDP: a firewall, not a crash (rule 5).
    const trusted =
      result !== 'refused' || dialled === undefined || this.confirmation?.trustsRefusal(dialled) !== false;
    this.prober.tcpPingEnded(seqNo, trusted ? result : 'ignored');
    if (dialled !== undefined) {
      // A connect the member's kernel took proves the port as an ack does: only its ack was late
      // (a starved member's loop), and a firewall that rejects TCP refuses the connect itself.
      if (result === 'ack' || (result === 'failed' && connected)) this.confirmation?.tcpReached(dialled);
      else if (result === 'failed') this.confirmation?.tcpTimedOut(dialled);
    }
    if (result === 'ack') return this.prober.handleAck(seqNo, true);
    if (result === 'refused' && trusted) this.prober.handleTcpRefused(seqNo);
    else this.prober.handleTcpFailed(seqNo);
    return false;
  }

  handleTimeout(now: number): void {
    this.now = now;
    // Returning with timers due makes the edge call again at once, after the loop's I/O phase.
    if (this.confirmation?.readBacklogFirst(this.timers.next(), now)) return;
    this.timers.runDue(now);
  }

  /**
   * The event-loop check's report: the longest stall since the last one. A stall over half a
   * probe timeout is Lifeguard evidence against us and keeps us from confirming for a while.
   */
  noteStall(stallMs: number, now: number): void {
    if (stallMs <= this.profile.probeTimeoutMs / 2) return;
    this.awareness.apply(1);
    this.confirmation?.noteStall(stallMs, now);
  }

  /** Announces a graceful leave; `extra` rides along (Serf's leave intent). */
  leave(now: number, extra: readonly Message[] = []): void {
    this.now = now;
    if (this.leaving) return;
    this.core.leaving = true;
    const peers = this.members.sample(DIRECT_FANOUT, isLive);
    // The intent goes first and alone. memberlist handles queued messages LIFO, so an intent and
    // a leave arriving together are read leave-first, and Serf then reports a failure.
    if (extra.length > 0) {
      for (const m of extra) this.core.broadcasts.queue(m, estimateSize(m));
      for (const peer of peers) this.outputs.push({ kind: 'packet', to: peer.addr, messages: extra });
    }
    const announce = () => {
      const dead: Dead = {
        type: 'dead',
        incarnation: this.self.incarnation,
        node: this.self.name,
        from: this.self.name,
      };
      this.core.broadcasts.queue(dead, estimateSize(dead), this.self.name);
      this.states.setStatus(this.self, 'left');
      for (const peer of peers) this.outputs.push({ kind: 'packet', to: peer.addr, messages: [dead] });
    };
    if (extra.length === 0) announce();
    else this.timers.set(now + 2 * this.profile.gossipIntervalMs, announce);
  }

  /**
   * Ours: probes an alive member now, out of its turn, on outside evidence that it may be gone (the
   * catalog's TCP connection to it dropped: a crashed host's kernel resets them at once, while its
   * turn in our probe order may be a whole round away). The probe is an ordinary one (ping, indirect
   * pings, then suspicion), so a live member only answers it. Returns whether a probe started: one
   * at a time per member.
   */
  probeNow(name: string, now: number): boolean {
    this.now = now;
    const m = this.members.get(name);
    if (!m || m === this.self || m.status !== 'alive' || this.leaving) {
      if (m && m !== this.self) this.core.trace(name, { step: 'hint', result: 'ignored' });
      return false;
    }
    if (this.prober.isProbing(name)) {
      this.core.trace(name, { step: 'hint', result: 'busy' });
      return false;
    }
    this.core.trace(name, { step: 'hint', result: 'started' });
    this.prober.probe(
      m,
      this.awareness.scale(this.profile.probeIntervalMs),
      this.confirmation?.dialsAtOnce() ?? false,
      'hint',
    );
    return true;
  }

  /** Operator override: mark a failed member as left so it is no longer reconnected. */
  forceLeave(name: string, now: number): boolean {
    this.now = now;
    const member = this.members.get(name);
    if (!member || member === this.self || isLive(member)) return false;
    const dead: Dead = { type: 'dead', incarnation: member.incarnation, node: name, from: name };
    this.core.broadcasts.queue(dead, estimateSize(dead), name);
    // Told directly too, as a graceful leave is: gossip alone left about 2 % of the observers of
    // a 10-node cluster still showing it failed 5 s later (60 seeds).
    this.core.tellDirectly(member, [dead]);
    if (member.status === 'dead') this.states.setStatus(member, 'left');
    return true;
  }

  /** New metadata for this node: a fresh incarnation carries it to everyone. */
  setMeta(meta: Uint8Array, now: number): void {
    this.now = now;
    this.self.meta = meta;
    this.self.incarnation++;
    this.states.broadcastAlive(this.self);
  }

  /** Queues a delegate message for piggybacked dissemination. */
  broadcastUser(payload: Uint8Array, key?: string): void {
    const message: Message = { type: 'user', payload };
    this.core.broadcasts.queue(message, estimateSize(message), key);
  }

  // ---- outputs ------------------------------------------------------------------------------

  drainOutputs(): Output[] {
    const out = this.core.outputs;
    this.core.outputs = [];
    return out;
  }

  drainEvents(): MembershipEvent[] {
    return this.states.drainEvents();
  }

  nextTimeout(): number | undefined {
    return this.timers.next();
  }

  /** Whether a probe or check is out, whose verdict may ask the voter rule for recent stalls. */
  awaitsAnswers(): boolean {
    return this.prober.awaitsAnswers();
  }

  pendingBroadcasts(): number {
    return this.core.broadcasts.length();
  }

  health(): number {
    return this.awareness.health();
  }

  localName(): string {
    return this.self.name;
  }

  member(name: string): MemberView | undefined {
    const m = this.members.get(name);
    return m && this.states.view(m);
  }

  /**
   * What our TCP found at the member's gossip port (Confirmation.tcpPort; README, rule 5);
   * undefined without collective confirmation (memberlist's rules).
   */
  tcpPort(name: string): TcpPortState | undefined {
    const m = this.members.get(name);
    return m && this.confirmation ? this.confirmation.tcpPort(m.addr) : undefined;
  }

  /** Addresses of up to `count` random alive members other than us (Serf relays answers through them). */
  randomAlive(count: number): Address[] {
    return this.members.sample(count, (m) => m.status === 'alive').map((m) => m.addr);
  }

  memberViews(): MemberView[] {
    return [...this.members.values()].map((m) => this.states.view(m));
  }

  /** alive + suspect members, self included: the N in memberlist's formulas. */
  liveCount(): number {
    return this.members.liveCount();
  }

  /** How many members this node sees in each status, self included. */
  counts(): Readonly<Record<MemberStatus, number>> {
    return this.members.counts();
  }

  // ---- message handling ---------------------------------------------------------------------

  private handleMessage(from: Address, message: Message): void {
    switch (message.type) {
      case 'ping':
        this.prober.handlePing(from, message);
        return;
      case 'indirectPing':
        this.prober.handleIndirectPing(from, message);
        return;
      case 'ack':
        this.prober.handleAck(message.seqNo, false);
        return;
      case 'nack':
        this.prober.handleNack(message.seqNo);
        return;
      case 'alive':
        this.states.aliveNode(message);
        return;
      case 'suspect':
        this.states.suspectNode(message);
        return;
      case 'dead':
        this.states.deadNode(message);
        return;
      case 'user':
        this.config.delegate?.notifyUser(message.payload);
        return;
      case 'pushPull':
      case 'err':
        return; // stream-only messages have no meaning in a packet
    }
  }

  /**
   * A probe every (scaled) probe interval. A lone agent (nobody else alive or suspect: the first
   * of a cluster, or the last survivor) has nobody to probe, and its ticks park rather than wake
   * it every second for nothing; a member becoming live resumes them (resumeProbes), which only
   * an input can cause: a packet or a push/pull.
   */
  private probeTick(now: number): void {
    if (this.members.liveCount() <= 1) {
      this.probesParkedAt = now;
      return;
    }
    const interval = this.awareness.scale(this.profile.probeIntervalMs);
    this.timers.set(now + interval, (t) => this.probeTick(t));
    if (this.leaving) return;
    const target = this.members.nextProbeTarget();
    if (target) this.prober.probe(target, interval, false, 'turn');
    this.confirmation?.proveSome();
  }

  /** After an input: ticks parked by a lone agent go on, on their old phase (as resumeGossip). */
  private resumeProbes(): void {
    const parkedAt = this.probesParkedAt;
    if (parkedAt === undefined || this.members.liveCount() <= 1) return;
    this.probesParkedAt = undefined;
    this.timers.set(nextOnPhase(parkedAt, this.now, this.awareness.scale(this.profile.probeIntervalMs)), (t) =>
      this.probeTick(t),
    );
  }

  // ---- gossip, push/pull, reconnect, reap ---------------------------------------------------

  /**
   * A gossip round every gossipIntervalMs while broadcasts are queued. With none (an idle cluster,
   * most of the time) the ticks park instead of waking the process 5 times a second to send
   * nothing; the next queued broadcast resumes them on the same phase (resumeGossip), so every
   * round goes out exactly when an always-ticking engine would have sent it.
   */
  private gossipTick(now: number): void {
    if (this.core.broadcasts.length() === 0 || this.nobodyToGossipTo(now)) {
      this.gossipParkedAt = now;
      return;
    }
    this.timers.set(now + this.profile.gossipIntervalMs, (t) => this.gossipTick(t));
    this.gossip(now);
    this.confirmation?.proveSome();
  }

  /**
   * A lone agent's news (its own alive and join intent, at start-up) never runs out of
   * retransmits: nobody takes them. Its ticks park too, once the recently dead (gossip targets
   * for gossipToTheDeadMs) are past; a member that arrives is news, whose queueing resumes them.
   */
  private nobodyToGossipTo(now: number): boolean {
    if (this.members.liveCount() > 1) return false;
    for (const m of this.members.values()) {
      if (m !== this.self && now - m.stateChangeAt < this.profile.gossipToTheDeadMs) return false;
    }
    return true;
  }

  private resumeGossip(): void {
    const parkedAt = this.gossipParkedAt;
    if (parkedAt === undefined) return;
    this.gossipParkedAt = undefined;
    this.timers.set(nextOnPhase(parkedAt, this.now, this.profile.gossipIntervalMs), (t) => this.gossipTick(t));
  }

  /** A gossip round soon (EAGER_GOSSIP_DELAY_MS), besides the periodic ones. */
  private eagerGossip(): void {
    if (this.eagerGossipPending) return;
    this.eagerGossipPending = true;
    this.timers.set(this.now + EAGER_GOSSIP_DELAY_MS, (t) => {
      this.eagerGossipPending = false;
      this.gossip(t);
    });
  }

  /** One gossip round: pending broadcasts to gossipNodes random members. */
  private gossip(now: number): void {
    if (this.core.broadcasts.length() === 0) return;
    const targets = this.members.sample(
      this.profile.gossipNodes,
      (m) => isLive(m) || now - m.stateChangeAt < this.profile.gossipToTheDeadMs,
    );
    for (const target of targets) {
      const messages = this.core.takeBroadcasts(0);
      if (messages.length === 0) return;
      this.outputs.push({ kind: 'packet', to: target.addr, messages });
    }
  }

  /**
   * Ours: a few early push/pulls with random members after a join. The seed's state is a snapshot;
   * members that join after us are learned by gossip alone, and when a whole cluster starts at once
   * gossip sometimes leaves an agent missing one of them until its first periodic push/pull, a
   * minute later at N = 50 (Serf shows the same hole, see issue 3). Anti-entropy at these delays
   * closes it within seconds, for four extra streams per join.
   */
  private followUpJoin(now: number): void {
    if (now < this.followUpsUntil) return;
    this.followUpsUntil = now + JOIN_FOLLOW_UP_MS[JOIN_FOLLOW_UP_MS.length - 1]!;
    for (const delay of JOIN_FOLLOW_UP_MS) {
      this.timers.set(now + delay, () => {
        const peer = this.members.sample(1, (m) => m.status === 'alive')[0];
        if (peer && !this.leaving) this.startPushPull(peer.addr, false);
      });
    }
  }

  private pushPullPeriod(): number {
    return pushPullScaleMs(this.profile.pushPullIntervalMs, this.liveCount());
  }

  private pushPullTick(now: number): void {
    this.timers.set(now + this.pushPullPeriod(), (t) => this.pushPullTick(t));
    const peer = this.members.sample(1, (m) => m.status === 'alive')[0];
    if (peer && !this.leaving) this.startPushPull(peer.addr, false);
  }

  private startPushPull(to: Address, join: boolean): number {
    const id = ++this.streamId;
    this.pendingStreams.set(id, { join, to });
    this.outputs.push({ kind: 'pushPull', id, to, state: this.localPushPull(join) });
    return id;
  }

  /** Serf's reconnect: partitions heal on their own once the network does. */
  private reconnectTick(now: number): void {
    this.timers.set(now + this.profile.reconnectIntervalMs, (t) => this.reconnectTick(t));
    if (this.leaving) return;
    const failed = this.members.counts().dead;
    if (failed === 0 || this.config.random() >= failed / this.liveCount()) return;
    const pick = this.members.sample(1, (m) => m.status === 'dead')[0];
    if (pick) this.startPushPull(pick.addr, true);
  }

  private reapTick(now: number): void {
    this.timers.set(now + REAP_INTERVAL_MS, (t) => this.reapTick(t));
    for (const m of [...this.members.values()]) {
      const limit =
        m.status === 'dead'
          ? this.profile.reconnectTimeoutMs
          : m.status === 'left'
            ? this.profile.tombstoneTimeoutMs
            : undefined;
      if (m === this.self || limit === undefined || now - m.stateChangeAt < limit) continue;
      this.removeMember(m);
      this.states.emit('reap', m);
    }
  }

  private localPushPull(join: boolean): PushPull {
    const nodes: PushNodeState[] = [...this.members.values()].map((m) => ({
      name: m.name,
      addr: ipToBytes(m.addr.host),
      port: m.addr.port,
      meta: m.meta,
      incarnation: m.incarnation,
      state: STATE_NUMBER[m.status],
      vsn: m.vsn,
    }));
    const userState = this.config.delegate?.localState(join) ?? new Uint8Array(0);
    return { type: 'pushPull', join, nodes, userState };
  }

  // ---- helpers ------------------------------------------------------------------------------

  private removeMember(m: Member): void {
    this.states.clearSuspicion(m);
    this.confirmation?.forget(m.name);
    this.members.remove(m);
  }
}

/** The first tick after `now` of a ticker that parked at `parkedAt`, every `interval`. */
function nextOnPhase(parkedAt: number, now: number, interval: number): number {
  return parkedAt + (Math.floor((now - parkedAt) / interval) + 1) * interval;
}
