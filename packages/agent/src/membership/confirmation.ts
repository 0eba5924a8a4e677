import type { Dead, Suspect } from '@vigil/protocol';
import { isLive } from '../base/member-status.ts';
import type { Address } from './address.ts';
import { DIRECT_FANOUT, type EngineCore } from './engine-core.ts';
import type { Member } from './member-table.ts';
import type { Prober } from './probing.ts';
import { ProofWalk } from './proof-walk.ts';
import type { SuspicionCause } from './swim-engine.ts';

// Everything in this file is ours, not memberlist's: collective confirmation and the rule of who
// may vote (README.md, "The confirmation rule"). The engine creates a Confirmation only when
// collective confirmation is on (the default, with Lifeguard); without one it is memberlist.

/** Rounds of last checks (direct + indirect) before a suspicion nobody confirmed becomes dead. */
const RECHECK_ATTEMPTS = 2;
/**
 * A timer this late means our event loop stalled. Node runs overdue timers before the I/O that
 * piled up meanwhile, so a verdict then would ignore acks already waiting in the socket: the
 * engine first lets the loop read them (see readBacklogFirst).
 */
const LATE_TIMER_MS = 10;
/**
 * Failed probes of one member in a row, one probe interval apart, that a node which may not vote
 * makes before it accuses or confirms (see mayAccuse). Three span about 5 s of silence, which no
 * single stall explains; and a crash must not go unnoticed just because every observer starves.
 */
const UNFIT_PROBES_BEFORE_SUSPECTING = 3;
/** Members beyond the probed one whose address proofs prove per probe interval of real time (VoterHealth.proofDial). */
const PROOFS_PER_INTERVAL = 4;
/**
 * A refutation is told directly this long after the accusation arrives: a restarted agent learns
 * it is suspected from its join's push/pull replies while still merging them, so the wait lets it
 * learn every member first, and folds a burst of refutations into one.
 */
const REFUTATION_DELAY_MS = 30;

/**
 * When this node's own view is worth a vote. A starved node misses acks and refutations, and
 * starved nodes starve together, so they are not the independent observers a confirmation needs.
 */
export interface VoterHealth {
  /** Highest Lifeguard score (0 = no recent sign of trouble) at which we still vote. */
  readonly maxScore: number;
  /** No event-loop stall over half a probe timeout for this long. */
  readonly quietMs: number;
  /** A probe of some member acked within this long (our network and CPU work right now). */
  readonly probeOkWithinMs: number;
  /**
   * Judge each failed probe or check by its own window instead of quietMs: it counts when no
   * stall touched it, from the ping's sending to the moment its timeout was handled.
   */
  readonly perWindow?: boolean;
  /**
   * A node that may not vote accuses once the member has been silent this long (nothing at all
   * heard from it since the first failed probe, re-probed every interval without Lifeguard's
   * stretch), instead of after UNFIT_PROBES_BEFORE_SUSPECTING failures of stretched probes.
   */
  readonly unfitSilenceMs?: number;
  /**
   * Such an accuser's own suspicion timer counts from one probe interval after the silence began
   * (memberlist's earliest accusation): the member had that long already, and stayed silent
   * longer than a stall explains. Speeds up the dead verdict, never past memberlist's.
   */
  readonly silenceCounts?: boolean;
  /**
   * A failed probe whose TCP fallback connect was refused counts even while we may not vote:
   * a refusal comes from the member's kernel (nothing listens on its gossip port), which our own
   * stall cannot fake, and a stalled but live process's kernel still accepts the connect.
   */
  readonly refusedVotes?: boolean;
  /** With refusedVotes: a refused connect fails the probe at once instead of at its interval's end. */
  readonly refusalEndsProbe?: boolean;
  /**
   * A confirmation by our own failed probe is told directly to the members (false: gossip only,
   * as before), as a chosen prober's check already tells its own.
   */
  readonly tellOwnConfirmation?: boolean;
  /**
   * With refusedVotes: a probe on evidence that the member may be gone (a catalog connection to it
   * dropped, an accusation we were chosen to check, a silence we are timing) dials its TCP
   * fallback with the ping instead of after the probe timeout.
   */
  readonly dialAtOnce?: boolean;
  /**
   * Our own accusation from a probe whose TCP fallback was refused is told directly to the
   * members (false: to the chosen probers only, the rest by gossip). The refusal is the crashed
   * process's kernel speaking, so the news is as sure as a confirmation, and on a starved cluster
   * every gossip hop waits for a stall.
   */
  readonly tellRefusal?: boolean;
  /** Our own dead verdict is told directly to the members (else gossip only, as memberlist). */
  readonly tellDead?: boolean;
  /**
   * With refusedVotes: our accusation made on a refused connect times its suspicion from the
   * dial, when the member's kernel refused, not from when our (stalled) loop read the refusal.
   */
  readonly refusalFromDial?: boolean;
  /**
   * With refusedVotes: a suspicion that our own probe's refused connect backs, once another
   * observer confirms it, ends `refusalSuspicionMs` after that connect (default: the suspicion
   * multiplier times the probe interval, memberlist's minimum for a cluster of up to 10), instead
   * of after memberlist's minimum scaled by log10(N). The member's process is gone, not slow: the
   * refutation window is kept for the mistaken cases only (README, rule 6).
   */
  readonly refusalSuspicion?: boolean;
  /** With refusalSuspicion: its timeout, overriding the default (for the simulator's tables). */
  readonly refusalSuspicionMs?: number;
  /**
   * With refusedVotes: every receiver of someone else's accusation makes one TCP connect to the
   * accused member's gossip port (once per member and incarnation), and a refusal is its own
   * vote, even while it may not vote otherwise (README, rule 8). Only towards an address that has
   * taken a TCP exchange of ours before: a firewall that rejects our TCP but passes UDP must not
   * turn every accusation of a live member into a vote.
   */
  readonly connectOnAccusation?: boolean;
  /**
   * With refusedVotes: a refusal counts (rules 5, 6 and 8) only from an address that has taken a
   * TCP exchange of ours before; from any other it is a plain failed fallback, as memberlist reads
   * it. A firewall that rejects TCP but passes UDP refuses a live member's port.
   */
  readonly refusalNeedsProof?: boolean;
  /**
   * With refusedVotes: an address whose connect was refused while its member answered over UDP
   * (a firewall) is remembered, and its refusals count for nothing from then on. A refusal from
   * an address that has not taken our TCP yet, read before the probe's UDP timeout (a probe that
   * dialled at once), waits for that timeout: the UDP ack decides, and teaches.
   */
  readonly learnsRejection?: boolean;
  /**
   * With refusalNeedsProof or learnsRejection: the first probe of a member whose address has not
   * taken our TCP yet dials its TCP fallback with the ping, and each probe tick also pings a few
   * such addresses, so that an address is proven (or found rejecting) soon after it is learnt.
   */
  readonly proofDial?: boolean;
  /**
   * With proofDial: members whose address is proved with one TCP ping each per probe interval of
   * real time, besides the probed member (PROOFS_PER_INTERVAL by default), until every live
   * member's port is known.
   */
  readonly proofsPerInterval?: number;
}

/**
 * Chosen with the simulator's tables (README.md): 2 s without a stall alone removes every false
 * confirmation under start-up starvation. Requiring a Lifeguard score of 0 or a recent probe
 * success as well cut the demotions of starved nodes further, but a network partition raises
 * every node's score and fails half its probes: cross-side dead took 62-90 s instead of 26 s.
 */
export const DEFAULT_VOTER_HEALTH: VoterHealth = {
  maxScore: Number.POSITIVE_INFINITY,
  quietMs: 2000,
  probeOkWithinMs: Number.POSITIVE_INFINITY,
  unfitSilenceMs: 4000,
  silenceCounts: true,
  refusedVotes: true,
  refusalEndsProbe: true,
  tellRefusal: true,
  tellDead: true,
  refusalFromDial: true,
  refusalSuspicion: true,
  connectOnAccusation: true,
  learnsRejection: true,
  proofDial: true,
};

/** What our TCP found at a member's gossip port (Confirmation.tcpPort). */
export type TcpPortState = 'reached' | 'rejects' | 'unknown';

/** The state changes a confirmation round leads to (state.go's, in the engine). */
export interface Verdicts {
  suspect(suspicion: Suspect, cause: SuspicionCause): void;
  dead(verdict: Dead): void;
  /** A suspect answered us directly: alive at the incarnation we suspected. */
  answered(m: Member): void;
}

/**
 * Collective confirmation: a member counts as confirmed suspect once two independent observers
 * suspect it, and chosen probers check an accusation at once instead of waiting for their turn.
 * With the voter rule: a node votes (accuses, confirms) only while its event loop keeps up.
 */
export class Confirmation {
  private readonly core: EngineCore;
  private readonly prober: Prober;
  private readonly verdicts: Verdicts;
  /** null: every observer votes, and timers run as soon as they are due (before the voter rule). */
  private readonly rule: VoterHealth | null;
  /** When our event loop last stalled (a check reported it, or our own timers fired late). */
  private lastStallAt: number;
  private lastProbeOkAt: number;
  /** Set when readBacklogFirst let the loop read its backlog; the next call runs the timers. */
  private backlogTurn = false;
  /** Failed probes in a row, per member, made while we could not vote (UNFIT_PROBES_BEFORE_SUSPECTING). */
  private readonly unfitFailures = new Map<string, number>();
  /**
   * With unfitSilenceMs, per member probed while we could not vote: since when it has been silent,
   * and when its last probe failed (a chain broken by a gap of more than two intervals restarts).
   */
  private readonly silentSince = new Map<string, { since: number; lastFailAt: number }>();
  private refutationPending = false;
  /** Addresses that took one of our TCP exchanges (push/pull, join, TCP ping ack): the proof a refusal needs. */
  private readonly reachedOverTcp = new Set<string>();
  /** Addresses a proof dial went to (proofDial): one each. */
  private readonly proofDialled = new Set<string>();
  /** Addresses that refused our connect while their member answered over UDP (learnsRejection). */
  private readonly rejectsTcp = new Set<string>();
  /** Whom proveSome dials next, and how many (proof-walk.ts). */
  private readonly proofWalk: ProofWalk;
  /** The incarnation of each member we made rule 8's connect to: one per accusation. */
  private readonly connectedAt = new Map<string, number>();

  constructor(core: EngineCore, prober: Prober, verdicts: Verdicts, rule: VoterHealth | null) {
    this.core = core;
    this.prober = prober;
    this.verdicts = verdicts;
    this.rule = rule;
    this.proofWalk = new ProofWalk(core.members, core.config.random);
    this.lastProbeOkAt = core.now;
    // A starting process (cold code, a burst of joins) has not shown yet that it keeps up.
    this.lastStallAt = core.now;
  }

  // ---- the voter rule ---------------------------------------------------------------------

  /**
   * Whether our own observation may accuse or confirm now (VoterHealth). `since`: when the
   * observation (a probe, a check) started, for a rule that judges its window.
   */
  canVote(since?: number): boolean {
    const { rule, core } = this;
    if (rule === null) return true;
    const clean =
      rule.perWindow === true && since !== undefined
        ? this.lastStallAt < since
        : core.now - this.lastStallAt >= rule.quietMs;
    return clean && core.awareness.health() <= rule.maxScore && core.now - this.lastProbeOkAt <= rule.probeOkWithinMs;
  }

  /** Whether a failed probe counts: by canVote, or because its TCP fallback was refused (refusedVotes). */
  voteOnProbe(since: number, refused: boolean): boolean {
    return (refused && this.rule?.refusedVotes === true) || this.canVote(since);
  }

  /** Whether a probe on outside evidence dials its TCP fallback at once (VoterHealth.dialAtOnce). */
  dialsAtOnce(): boolean {
    return this.refusalEndsProbe() && this.rule?.dialAtOnce !== false;
  }

  refusalCountsFromDial(): boolean {
    return this.rule?.refusedVotes === true && this.rule.refusalFromDial === true;
  }

  /** How long a confirmed suspicion lasts after our own refused connect (refusalSuspicion), if it is shortened. */
  refusalSuspicionMs(): number | undefined {
    const { rule } = this;
    if (rule?.refusedVotes !== true || rule.refusalSuspicion !== true) return undefined;
    return rule.refusalSuspicionMs ?? this.core.profile.suspicionMult * this.core.profile.probeIntervalMs;
  }

  refusalEndsProbe(): boolean {
    return this.rule?.refusedVotes === true && this.rule.refusalEndsProbe === true;
  }

  /**
   * Before timers run: true when they are late (we stalled), so the engine returns and the edge
   * calls again after the loop has read the acks and refutations that arrived meanwhile.
   */
  readBacklogFirst(due: number | undefined, now: number): boolean {
    if (due !== undefined && now - due > LATE_TIMER_MS && !this.backlogTurn && this.rule !== null) {
      this.backlogTurn = true;
      this.noteStall(now - due, now);
      return true;
    }
    this.backlogTurn = false;
    return false;
  }

  /** A stall over half a probe timeout keeps us from voting for a while. */
  noteStall(ms: number, now: number): void {
    if (ms > this.core.profile.probeTimeoutMs / 2) this.lastStallAt = Math.max(this.lastStallAt, now);
  }

  probeAcked(name: string): void {
    this.lastProbeOkAt = this.core.now;
    this.unfitFailures.delete(name);
    this.silentSince.delete(name);
  }

  /** Any datagram from a member ends its silence: a stalled member answers its backlog late. */
  heardFrom(from: Address): void {
    if (this.silentSince.size === 0) return;
    for (const name of this.silentSince.keys()) {
      const m = this.core.members.get(name);
      if (m && m.addr.host === from.host && m.addr.port === from.port) this.silentSince.delete(name);
    }
  }

  /**
   * After a failed probe of a live member. A starved prober's failed probe is weak evidence, and
   * starved probers fail together: two of them accusing one member would read as a confirmation
   * everywhere. So it probes again, and accuses (or confirms someone else's suspicion) only once
   * the member has stayed silent longer than a stall explains (unfitSilenceMs; or, without it,
   * after several failures in a row). `voter` was judged before the probe's own Lifeguard
   * penalty; `sentAt` is when the failed probe's ping went out. Returns undefined to hold the
   * accusation back, else how long the member has been silent already, for its suspicion timer.
   */
  mayAccuse(name: string, incarnation: number, voter: boolean, sentAt: number): number | undefined {
    const silenceMs = this.rule?.unfitSilenceMs;
    if (!voter && silenceMs !== undefined) {
      const { core } = this;
      const chain = this.silentSince.get(name);
      const unbroken = chain !== undefined && sentAt - chain.lastFailAt <= 2 * core.profile.probeIntervalMs;
      const since = unbroken ? chain.since : sentAt;
      if (core.now - since < silenceMs) {
        this.silentSince.set(name, { since, lastFailAt: core.now });
        core.timers.set(core.now + core.profile.probeIntervalMs, () => this.reprobe(name, incarnation));
        return undefined;
      }
      this.silentSince.delete(name);
      // Less one probe interval: memberlist's earliest accusation of a member silent since
      // `since`, so no suspicion of ours ends sooner after a silence began than memberlist's could.
      return this.rule?.silenceCounts === true ? Math.max(0, core.now - since - core.profile.probeIntervalMs) : 0;
    } else if (!voter) {
      const failures = (this.unfitFailures.get(name) ?? 0) + 1;
      if (failures < UNFIT_PROBES_BEFORE_SUSPECTING) {
        this.unfitFailures.set(name, failures);
        const { core } = this;
        core.timers.set(core.now + core.profile.probeIntervalMs, () => this.reprobe(name, incarnation));
        return undefined;
      }
    }
    this.unfitFailures.delete(name);
    this.silentSince.delete(name);
    return 0;
  }

  forget(name: string): void {
    this.unfitFailures.delete(name);
    this.silentSince.delete(name);
    this.connectedAt.delete(name);
    const m = this.core.members.get(name);
    if (m) {
      this.reachedOverTcp.delete(addressKey(m.addr));
      this.proofDialled.delete(addressKey(m.addr));
      this.rejectsTcp.delete(addressKey(m.addr));
    }
  }

  /**
   * A TCP exchange we started with `addr` succeeded: a refusal from it later means something (and
   * a rejection learnt before is over: the firewall went, or the refusal was a restart's gap).
   */
  tcpReached(addr: Address): void {
    if (this.rule?.refusedVotes !== true) return;
    this.reachedOverTcp.add(addressKey(addr));
    this.rejectsTcp.delete(addressKey(addr));
  }

  /**
   * What our TCP found at `addr` (see trustsRefusal): `reached` (it took an exchange of ours),
   * `rejects` (it refused while its member answered over UDP), or `unknown`.
   */
  tcpPort(addr: Address): TcpPortState {
    const key = addressKey(addr);
    return this.reachedOverTcp.has(key) ? 'reached' : this.rejectsTcp.has(key) ? 'rejects' : 'unknown';
  }

  /** `m` answered over UDP a probe whose connect its address had refused: a firewall, not a crash. */
  refusedWhileAlive(name: string): void {
    const m = this.core.members.get(name);
    if (!m || this.rule?.learnsRejection !== true || this.reachedOverTcp.has(addressKey(m.addr))) return;
    this.rejectsTcp.add(addressKey(m.addr));
    this.core.trace(m.name, { step: 'tcp-rejects' });
  }

  /** Whether a refusal read before a probe's UDP timeout waits for it (learnsRejection): an unproven address. */
  refusalWaitsForUdp(m: Member): boolean {
    return this.rule?.learnsRejection === true && !this.reachedOverTcp.has(addressKey(m.addr));
  }

  /**
   * A TCP exchange with `addr` timed out: no answer either way (a stalled member's ack came too
   * late, or a firewall drops), so a later proof dial may try it again.
   */
  tcpTimedOut(addr: Address): void {
    this.proofDialled.delete(addressKey(addr));
  }

  /**
   * False when a refused connect to `addr` must be read as a plain failure, as memberlist reads
   * every one: a port that refused us while its member answered over UDP (learnsRejection), or,
   * with refusalNeedsProof, one that never took our TCP. A firewall rejecting TCP refuses a live
   * member's port; a port that took our TCP refuses only once nothing listens on it any more.
   */
  trustsRefusal(addr: Address): boolean {
    const { rule } = this;
    if (rule?.refusedVotes !== true) return true;
    const key = addressKey(addr);
    if (rule.learnsRejection === true && this.rejectsTcp.has(key)) return false;
    return rule.refusalNeedsProof !== true || this.reachedOverTcp.has(key);
  }

  /** Whether refusals are guarded at all (refusalNeedsProof or learnsRejection), so that proofs matter. */
  private guarded(): boolean {
    const { rule } = this;
    return rule?.refusedVotes === true && (rule.refusalNeedsProof === true || rule.learnsRejection === true);
  }

  /**
   * Whether to dial `m`'s address now to prove it (proofDial); a true answer claims the dial, so
   * each address is dialled once (until a timeout frees it: tcpTimedOut).
   */
  claimsProofDial(m: Member): boolean {
    const { rule } = this;
    if (rule?.proofDial !== true || !this.guarded()) return false;
    const key = addressKey(m.addr);
    if (this.reachedOverTcp.has(key) || this.rejectsTcp.has(key) || this.proofDialled.has(key)) return false;
    this.proofDialled.add(key);
    return true;
  }

  /**
   * Each probe and gossip tick: a TCP ping to each of a few live members whose port is not known
   * either way, so that soon after a start we know which take our TCP (their refusals count at
   * once) and which reject it while alive (a refused ping is followed by a UDP check:
   * connectRefused). Once every port is known it sends nothing.
   */
  proveSome(): void {
    const { rule, core } = this;
    if (rule?.proofDial !== true || !this.guarded() || core.leaving) return;
    const rate = rule.proofsPerInterval ?? PROOFS_PER_INTERVAL;
    const claim = (m: Member) => m.status === 'alive' && !this.prober.isProbing(m.name) && this.claimsProofDial(m);
    for (const m of this.proofWalk.take(core.now, core.profile.probeIntervalMs, rate, claim)) this.prober.connect(m);
  }

  /**
   * A TCP ping outside any probe was refused: rule 8's connect to an accused member (a vote of ours
   * if it is still accused), or a proof ping to a live member's unknown port (a UDP check tells a
   * firewall from a crash).
   */
  connectRefused(name: string, incarnation: number, dialledAt: number): void {
    const { core } = this;
    const m = core.members.get(name);
    if (m?.status === 'alive' && this.refusalWaitsForUdp(m)) {
      // A proof ping refused: a crash, or a firewall. A UDP answer now says which. Its silence
      // accuses nobody: a firewalled member that stalls past the check would be accused (the
      // firewall table's starved column: 19 confirmed views over 20 seeds when it probed at once).
      this.prober.check(
        m,
        [],
        [],
        () => this.refusedWhileAlive(m.name),
        () => {},
      );
      return;
    }
    if (m?.status !== 'suspect' || m.incarnation !== incarnation) return;
    const refusedAt = this.refusalCountsFromDial() ? dialledAt : core.now;
    this.verdicts.suspect(
      { type: 'suspect', incarnation, node: name, from: core.self.name },
      {
        kind: 'probe',
        relays: 0,
        nacks: 0,
        tcp: true,
        refused: true,
        refusedAt,
        health: core.awareness.health(),
        silentMs: core.now - refusedAt,
        connectOnly: true,
      },
    );
  }

  // ---- collective confirmation ------------------------------------------------------------

  /**
   * A new suspicion of `m`: ours goes straight to the chosen probers (to every member when a
   * refused connect made it, VoterHealth.tellRefusal); theirs, we may check.
   */
  accused(m: Member, s: Suspect, cause: SuspicionCause): void {
    if (s.from === this.core.self.name) {
      // Our own accusation: tell the chosen probers now rather than through gossip rounds.
      const chosen = this.confirmationProbers(m, s.from);
      if (cause.kind === 'probe' && cause.refused === true && this.rule?.tellRefusal === true) {
        const others = this.core.members.sample(DIRECT_FANOUT, (x) => x !== m && isLive(x) && !chosen.includes(x));
        this.core.tellDirectly(m, [s], [...chosen, ...others]);
      } else {
        this.core.tellDirectly(m, [s], chosen);
      }
    } else {
      this.maybeConfirm(m, s);
      this.connectOnAccusation(m);
    }
  }

  /**
   * Rule 8: one connect to the accused member's gossip port, if it has taken our TCP before; none
   * while a probe of ours is out (its TCP fallback dials it, at once when we re-probe as a chosen prober).
   */
  private connectOnAccusation(m: Member): void {
    const { core, rule } = this;
    if (rule?.refusedVotes !== true || rule.connectOnAccusation !== true || core.leaving) return;
    if (this.prober.isProbing(m.name)) return;
    if (this.connectedAt.get(m.name) === m.incarnation || !this.reachedOverTcp.has(addressKey(m.addr))) return;
    this.connectedAt.set(m.name, m.incarnation);
    this.prober.connect(m);
  }

  /**
   * Our own failed probe (a refused connect, typically, which counts even while we may not vote)
   * made someone's suspicion confirmed: tell the members directly, as a chosen prober's check
   * does, instead of leaving it to gossip rounds that starved nodes run late.
   */
  confirmedByUs(m: Member, accuser: string, mine: Suspect): void {
    if (this.rule?.tellOwnConfirmation === false) return;
    const accusation: Suspect = { ...mine, from: accuser };
    this.core.tellDirectly(m, [accusation, mine]);
  }

  /** Our own dead verdict: told directly (VoterHealth.tellDead), as a leave is. */
  declaredDead(m: Member, d: Dead): void {
    if (this.rule?.tellDead !== true || this.core.leaving) return;
    this.core.tellDirectly(m, [d]);
  }

  /**
   * When a suspicion times out with nobody confirming, the likeliest story is a refutation we
   * missed (lost datagrams), not a failure that only we saw: ask the suspect itself before the
   * verdict. True when a recheck took over.
   */
  rechecksLoneSuspicion(m: Member, incarnation: number, observers: number): boolean {
    if (observers >= 2 || this.core.leaving) return false;
    this.recheck(m, incarnation, RECHECK_ATTEMPTS);
    return true;
  }

  /**
   * memberlist's mergeState lets a push/pull's suspect state confirm one we hold as if the sender
   * were a second independent observer; but someone else's suspicion is no observation of ours.
   */
  ignoresMergedSuspicion(heldAtThatIncarnation: boolean): boolean {
    return heldAtThatIncarnation;
  }

  /**
   * We refuted an accusation: while we stand accused, routing may be draining us, so tell the
   * members directly (as a confirmation is told) instead of waiting for gossip rounds.
   */
  refuted(): void {
    if (this.refutationPending) return;
    this.refutationPending = true;
    const { core } = this;
    core.timers.set(core.now + REFUTATION_DELAY_MS, () => {
      this.refutationPending = false;
      if (!core.leaving) this.core.tellDirectly(core.self, [core.aliveMessage(core.self)]);
    });
  }

  /** Probes a member again unless it changed incarnation, left the live set, or is being probed. */
  private reprobe(name: string, incarnation: number): void {
    const { core } = this;
    const m = core.members.get(name);
    if (!m || !isLive(m) || m.incarnation !== incarnation || core.leaving) return;
    if (this.prober.isProbing(name)) return;
    const interval = core.profile.probeIntervalMs;
    this.prober.probe(
      m,
      this.rule?.unfitSilenceMs === undefined ? core.awareness.scale(interval) : interval,
      this.dialsAtOnce(),
      'reprobe',
    );
  }

  /**
   * The `confirmationProbers` live members ranked first by a hash of (member, suspect,
   * incarnation), leaving out the suspect and the accuser. Every member computes the same ranking
   * from its own view, so the accuser knows whom to tell and the chosen ones know they are
   * chosen, with no coordination.
   */
  private confirmationProbers(target: Member, accuser: string): Member[] {
    const salt = `\0${target.name}\0${target.incarnation}`;
    const k = this.core.profile.confirmationProbers;
    if (k <= 0) return [];
    // The first k by (hash, name), kept in order while scanning: every member that hears a
    // suspicion runs this, so it must stay O(N) and allocation-free (no sort, no string concat).
    const best: { m: Member; h: number }[] = [];
    for (const m of this.core.members.array()) {
      if (m === target || m.name === accuser || m.status !== 'alive') continue;
      const h = fnv1a(salt, fnv1a(m.name)); // = fnv1a(m.name + salt)
      if (best.length === k && !ranksBefore(h, m.name, best[k - 1]!)) continue;
      if (best.length < k) best.push({ m, h });
      else best[k - 1] = { m, h };
      for (let i = best.length - 1; i > 0 && ranksBefore(best[i]!.h, best[i]!.m.name, best[i - 1]!); i--) {
        const t = best[i]!;
        best[i] = best[i - 1]!;
        best[i - 1] = t;
      }
    }
    return best.map((r) => r.m);
  }

  /** A chosen prober checks the suspect over three paths at once and confirms if all stay silent. */
  private maybeConfirm(target: Member, accusation: Suspect): void {
    const { core } = this;
    if (core.leaving) return;
    if (!this.confirmationProbers(target, accusation.from).includes(core.self)) return;
    // Chosen while we may not vote: our own probes, repeated, decide instead (mayAccuse).
    const perWindow = this.rule?.perWindow === true;
    if (!perWindow && !this.canVote()) {
      this.reprobe(target.name, target.incarnation);
      return;
    }
    const incarnation = target.incarnation;
    const since = core.now;
    core.trace(target.name, { step: 'check' });
    // Two relays as well, so one lost datagram cannot fake a confirmation.
    const relays = core.members.sample(2, (m) => m !== target && m.name !== accusation.from && isLive(m));
    this.prober.check(target, [accusation], relays, undefined, () => {
      const current = core.members.get(target.name);
      if (current?.status !== 'suspect' || current.incarnation !== incarnation) return;
      if (!this.canVote(since)) {
        // We stalled while the check was out: its silence proves nothing.
        core.trace(target.name, { step: 'check-void' });
        if (perWindow) this.reprobe(target.name, incarnation);
        return;
      }
      const mine: Suspect = { type: 'suspect', incarnation, node: target.name, from: core.self.name };
      this.verdicts.suspect(mine, { kind: 'confirm', relays: relays.length, health: core.awareness.health() });
      // Accusation and confirmation together make a receiver's view "confirmed" in one step.
      this.core.tellDirectly(target, [accusation, mine]);
    });
  }

  /** Pings a lone suspicion's suspect directly and through relays; dead only if all stay silent. */
  private recheck(target: Member, incarnation: number, attempts: number): void {
    const { core } = this;
    const accusation: Suspect = { type: 'suspect', incarnation, node: target.name, from: core.self.name };
    const relays = core.members.sample(core.profile.indirectChecks, (m) => m !== target && isLive(m));
    const answered = () => {
      // It answered, so it is alive whatever refutation we missed; the accusation we sent with
      // the ping makes it refute again, and that carries its current incarnation to us.
      const m = core.members.get(target.name);
      if (m?.status === 'suspect' && m.incarnation === incarnation) this.verdicts.answered(m);
    };
    this.prober.check(target, [accusation], relays, answered, () => {
      if (core.members.get(target.name) !== target || target.status !== 'suspect') return;
      if (target.incarnation !== incarnation) return;
      if (attempts > 1) this.recheck(target, incarnation, attempts - 1);
      else {
        const dead: Dead = { type: 'dead', incarnation, node: target.name, from: core.self.name };
        this.verdicts.dead(dead);
        this.declaredDead(target, dead);
      }
    });
  }
}

function addressKey(a: Address): string {
  return `${a.host}:${a.port}`;
}

/** Prober ranking order: by hash, then by name (names are unique, so the order is total). */
function ranksBefore(h: number, name: string, other: { m: Member; h: number }): boolean {
  return h < other.h || (h === other.h && name < other.m.name);
}

/** 32-bit FNV-1a: a cheap, stable hash for the prober ranking. `seed` continues an earlier hash. */
function fnv1a(text: string, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
