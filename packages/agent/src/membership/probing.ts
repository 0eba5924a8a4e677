import type { IndirectPing, Message, Ping, Suspect } from '@vigil/protocol';
import { isLive } from '../base/member-status.ts';
import { type Address, bytesToIp } from './address.ts';
import type { EngineCore } from './engine-core.ts';
import type { Member } from './member-table.ts';
import type { TraceStep } from './probe-trail.ts';
import type { SuspicionCause } from './swim-engine.ts';

/** How a TCP ping of ours ended, as the trail shows it. */
type TcpResult = Extract<TraceStep, { step: 'tcp' }>['result'];

/** memberlist's nack support starts at protocol 4. */
const NACK_MIN_PROTOCOL = 4;

/** What a failed probe leads to; the engine wires these to state changes and confirmation. */
export interface ProbeHooks {
  /**
   * Whether our own observation since `since` counts (always, without collective confirmation);
   * `refused`: the probe's TCP fallback connect was refused.
   */
  canVote(since: number, refused: boolean): boolean;
  /**
   * After a failed probe of a live member: undefined holds the accusation back (confirmation.ts),
   * else the member's silence so far, which its suspicion timer counts.
   */
  mayAccuse(name: string, incarnation: number, voter: boolean, sentAt: number): number | undefined;
  accuse(suspicion: Suspect, cause: SuspicionCause): void;
  /**
   * Whether a refused TCP fallback connect ends the probe at once (a failure, without waiting
   * for the probe interval); memberlist waits, as without collective confirmation.
   */
  refusalEndsProbe(): boolean;
  /**
   * Whether an accusation made on a refused connect times its suspicion from the dial (when the
   * member's kernel refused) rather than from the moment our loop read the refusal.
   */
  refusalCountsFromDial(): boolean;
  /** A probe of `name` was answered. */
  acked(name: string): void;
  /** A TCP ping outside any probe (`connect`: rule 8's, or a proof) was refused; dialled at `dialledAt`. */
  connectRefused(name: string, incarnation: number, dialledAt: number): void;
  /** Whether this probe dials its TCP fallback with the ping, to prove the address (claims that dial). */
  claimsProofDial(target: Member): boolean;
  /** Whether a refusal read before the probe's UDP timeout waits for it (the UDP ack decides). */
  refusalWaitsForUdp(target: Member): boolean;
  /** The member acked over UDP a probe whose connect was refused: its port rejects us while it lives. */
  refusedWhileAlive(name: string): void;
}

interface PendingProbe {
  readonly kind: 'probe';
  readonly target: string;
  /** The incarnation probed: a failure accuses this one, not a newer one heard meanwhile. */
  readonly incarnation: number;
  /** When the ping went out: the probe's window, for the voter rule, starts here. */
  readonly sentAt: number;
  acked: boolean;
  nacks: number;
  expectedNacks: number;
  timers: number[];
  /** Paths tried beyond the direct ping, for the verdict log. */
  relays?: number;
  tcp?: boolean;
  refused?: boolean;
  /** A TCP ack that came before the probe timeout (dialAtOnce): it counts only if UDP stays silent. */
  tcpAcked?: boolean;
  /** The TCP fallback is out and has not reported yet. */
  tcpPending?: boolean;
  /** When the TCP fallback was dialled. */
  dialledAt?: number;
  /** The probe interval ended while the TCP fallback was out: its result decides (memberlist waits). */
  awaitingTcp?: boolean;
  /** A refusal came before the UDP timeout and waits for it (ProbeHooks.refusalWaitsForUdp). */
  refusalHeld?: boolean;
}
interface PendingRelay {
  readonly kind: 'relay';
  readonly requester: Address;
  readonly originalSeq: number;
  readonly wantsNack: boolean;
  timer: number;
}
/** One round of a check (confirmation.ts): direct and relayed pings, one timeout, no verdict here. */
interface PendingCheck {
  readonly kind: 'check';
  readonly onAck: (() => void) | undefined;
  timer: number;
}
/** One TCP ping outside any probe (rule 8's connect, or a proof ping): only its refusal is handled here. */
interface PendingConnect {
  readonly kind: 'connect';
  readonly target: string;
  readonly incarnation: number;
  readonly dialledAt: number;
}
type Pending = PendingProbe | PendingRelay | PendingCheck | PendingConnect;

/**
 * memberlist's probeNode and its ack handlers: direct ping, indirect pings through relays with
 * nacks, the TCP fallback, and answering and relaying other members' pings.
 */
export class Prober {
  private readonly core: EngineCore;
  private readonly hooks: ProbeHooks;
  private readonly pending = new Map<number, Pending>();
  /** Where each TCP ping still out went, and to whom: its ack shows that address takes our TCP. */
  private readonly dialled = new Map<number, { readonly to: Address; readonly name: string }>();
  /** Probes acked over UDP while their TCP ping was still out: a refusal then is a firewall's. */
  private readonly ackedWhileDialling = new Set<number>();
  private seqNo = 0;

  constructor(core: EngineCore, hooks: ProbeHooks) {
    this.core = core;
    this.hooks = hooks;
  }

  /** Whether a probe or check of ours is out: its verdict may consult the voter rule. */
  awaitsAnswers(): boolean {
    for (const p of this.pending.values()) if (p.kind !== 'relay') return true;
    return false;
  }

  isProbing(name: string): boolean {
    for (const p of this.pending.values()) if (p.kind === 'probe' && p.target === name) return true;
    return false;
  }

  handlePing(from: Address, ping: Ping): void {
    // A ping meant for a previous holder of this address is not ours to answer.
    if (ping.node !== '' && ping.node !== this.core.self.name) return;
    const to = replyAddress(from, ping.sourceAddr, ping.sourcePort);
    this.core.send(to, [{ type: 'ack', seqNo: ping.seqNo, payload: new Uint8Array(0) }]);
  }

  handleIndirectPing(from: Address, req: IndirectPing): void {
    const { core } = this;
    const host = bytesToIp(req.target);
    if (host === undefined) return;
    const requester = replyAddress(from, req.sourceAddr, req.sourcePort);
    const seqNo = this.nextSeq();
    const relay: PendingRelay = { kind: 'relay', requester, originalSeq: req.seqNo, wantsNack: req.nack, timer: 0 };
    relay.timer = core.timers.set(core.now + core.profile.probeTimeoutMs, () => {
      this.pending.delete(seqNo);
      if (relay.wantsNack) core.send(requester, [{ type: 'nack', seqNo: req.seqNo }]);
    });
    this.pending.set(seqNo, relay);
    core.send({ host, port: req.port }, [core.pingFor(req.node, seqNo)]);
  }

  /** Returns whether the ack settled a probe over TCP after its UDP ping went unanswered. */
  handleAck(seqNo: number, viaTcp: boolean): boolean {
    const { core } = this;
    const p = this.pending.get(seqNo);
    if (!p) return false;
    switch (p.kind) {
      case 'probe':
        if (p.acked) return false;
        if (viaTcp && p.timers.length === 2) {
          // Dialled at once, answered before the UDP ping's timeout: let the UDP ack decide (and
          // Lifeguard credit it); the TCP ack counts if the timeout passes without one.
          p.tcpAcked = true;
          return false;
        }
        p.acked = true;
        for (const t of p.timers) core.timers.cancel(t);
        this.pending.delete(seqNo);
        if (!viaTcp && p.timers.length === 2) core.awareness.apply(-1); // direct ack within the timeout
        core.trace(p.target, { step: 'acked' });
        this.hooks.acked(p.target);
        if (p.refused && !viaTcp) this.hooks.refusedWhileAlive(p.target);
        else if (p.tcpPending && !viaTcp) this.ackedWhileDialling.add(seqNo);
        return viaTcp;
      case 'relay':
        core.timers.cancel(p.timer);
        this.pending.delete(seqNo);
        core.send(p.requester, [{ type: 'ack', seqNo: p.originalSeq, payload: new Uint8Array(0) }]);
        return false;
      case 'check':
        core.timers.cancel(p.timer);
        this.pending.delete(seqNo);
        p.onAck?.();
        return false;
      case 'connect':
        this.pending.delete(seqNo);
        return false;
    }
  }

  /** Where a TCP ping still out went, if it is ours. */
  tcpPingDialled(seqNo: number): Address | undefined {
    return this.dialled.get(seqNo)?.to;
  }

  /**
   * A TCP ping ended, however it was meant (a probe's fallback, a proof, rule 8's connect): the
   * trail shows the result (`ignored`: a refusal that counts for nothing), even after a UDP ack
   * settled its probe.
   */
  tcpPingEnded(seqNo: number, shown: TcpResult): void {
    const d = this.dialled.get(seqNo);
    if (d === undefined) return;
    this.dialled.delete(seqNo);
    this.core.trace(d.name, { step: 'tcp', result: shown });
    // The member answered over UDP before its port refused: the refusal is a firewall's.
    if (this.ackedWhileDialling.delete(seqNo) && shown === 'refused') this.hooks.refusedWhileAlive(d.name);
  }

  /**
   * One TCP ping to a member's gossip port outside any probe: rule 8's connect to an accused
   * member (README), its refusal our own vote, or a proof that the address takes our TCP
   * (Confirmation.proveSome). An ack or a failure says nothing the probes will not find.
   */
  connect(target: Member): void {
    const { core } = this;
    if (core.config.tcpPing === false || (target.vsn[1] ?? 0) < 3) return;
    const seqNo = this.nextSeq();
    this.pending.set(seqNo, {
      kind: 'connect',
      target: target.name,
      incarnation: target.incarnation,
      dialledAt: core.now,
    });
    this.dialled.set(seqNo, { to: target.addr, name: target.name });
    core.trace(target.name, { step: 'dial' });
    const deadline = core.now + core.profile.probeIntervalMs;
    core.outputs.push({ kind: 'tcpPing', to: target.addr, ping: core.pingFor(target.name, seqNo), deadline });
  }

  handleNack(seqNo: number): void {
    const p = this.pending.get(seqNo);
    if (p?.kind === 'probe') p.nacks++;
  }

  /** The probe's TCP fallback connect was refused: nothing listens on the member's gossip port. */
  handleTcpRefused(seqNo: number): void {
    const p = this.pending.get(seqNo);
    if (p?.kind === 'connect') {
      this.pending.delete(seqNo);
      this.hooks.connectRefused(p.target, p.incarnation, p.dialledAt);
      return;
    }
    if (p?.kind !== 'probe' || p.acked) return;
    p.refused = true;
    p.tcpPending = false;
    const target = this.core.members.get(p.target);
    // Dialled at once, refused before the UDP ping's timeout: a firewall refuses a live member's
    // port too, so the UDP ack, if it comes, decides.
    if (p.timers.length === 2 && target && this.hooks.refusalWaitsForUdp(target)) {
      p.refusalHeld = true;
      return;
    }
    if (!this.hooks.refusalEndsProbe() && !p.awaitingTcp) return;
    for (const t of p.timers) this.core.timers.cancel(t);
    this.probeFailed(p.target, seqNo, p);
  }

  /**
   * The probe's TCP fallback failed otherwise (timeout, reset, a wrong reply), or was refused by
   * an address whose refusals are no evidence.
   */
  handleTcpFailed(seqNo: number): void {
    const p = this.pending.get(seqNo);
    if (p?.kind === 'connect') {
      this.pending.delete(seqNo);
      return;
    }
    if (p?.kind !== 'probe' || p.acked) return;
    p.tcpPending = false;
    if (!p.awaitingTcp) return;
    for (const t of p.timers) this.core.timers.cancel(t);
    this.probeFailed(p.target, seqNo, p);
  }

  /**
   * The probe interval is over. memberlist waits for its TCP fallback's result before failing the
   * probe; so do we: when our loop stalled, the probe timeout (which dials) and the interval's end
   * run in the same turn, and the dial's refusal, a vote from anyone, would otherwise be ignored.
   * Bounded by one more probe timeout, in case no result ever comes.
   */
  private intervalOver(seqNo: number, probe: PendingProbe): void {
    if (!probe.tcpPending) {
      this.probeFailed(probe.target, seqNo, probe);
      return;
    }
    probe.awaitingTcp = true;
    const { core } = this;
    probe.timers = [
      core.timers.set(core.now + core.profile.probeTimeoutMs, () => this.probeFailed(probe.target, seqNo, probe)),
    ];
  }

  /**
   * memberlist's probe. `dialAtOnce`: start the TCP fallback with the ping instead of after the
   * probe timeout, for probes on evidence that the member may be gone (confirmation.ts), where a
   * refused connect settles it half a second sooner.
   */
  probe(target: Member, interval: number, dialAtOnce: boolean, why: 'turn' | 'hint' | 'reprobe'): void {
    const { core } = this;
    // A proof dial changes nothing about the probe itself: an early TCP ack waits for the UDP one.
    const dials = dialAtOnce || this.hooks.claimsProofDial(target);
    core.trace(target.name, { step: 'probe', why, dialAtOnce: dials });
    const seqNo = this.nextSeq();
    const probe: PendingProbe = {
      kind: 'probe',
      target: target.name,
      incarnation: target.incarnation,
      sentAt: core.now,
      acked: false,
      nacks: 0,
      expectedNacks: 0,
      timers: [],
    };
    this.pending.set(seqNo, probe);
    const messages: Message[] = [core.pingFor(target.name, seqNo)];
    // Buddy system: tell a suspect directly so it can refute before the timer runs out.
    if (target.status === 'suspect' && core.lifeguard) {
      messages.push({ type: 'suspect', incarnation: target.incarnation, node: target.name, from: core.self.name });
    }
    core.send(target.addr, messages);
    const start = core.now;
    if (dials) this.tcpFallback(target, seqNo, probe, start + interval);
    probe.timers.push(
      core.timers.set(start + core.profile.probeTimeoutMs, () => {
        probe.timers.shift();
        if (probe.tcpAcked) this.handleAck(seqNo, true);
        else if (probe.refusalHeld && this.hooks.refusalEndsProbe()) {
          // UDP stayed silent as well: the refusal counts now.
          for (const t of probe.timers) core.timers.cancel(t);
          this.probeFailed(target.name, seqNo, probe);
        } else this.indirectProbe(target, seqNo, probe, start + interval);
      }),
      core.timers.set(start + interval, () => this.intervalOver(seqNo, probe)),
    );
  }

  /**
   * Pings `target` directly (with `alongside`) and through `relays` once; after a probe timeout,
   * `onSilence` unless an ack came first (then `onAck`).
   */
  check(
    target: Member,
    alongside: readonly Message[],
    relays: readonly Member[],
    onAck: (() => void) | undefined,
    onSilence: () => void,
  ): void {
    const { core } = this;
    const seqNo = this.nextSeq();
    const check: PendingCheck = { kind: 'check', onAck, timer: 0 };
    this.pending.set(seqNo, check);
    core.send(target.addr, [core.pingFor(target.name, seqNo), ...alongside]);
    for (const relay of relays) core.send(relay.addr, [core.indirectPingFor(target, seqNo, false)]);
    check.timer = core.timers.set(core.now + core.profile.probeTimeoutMs, () => {
      this.pending.delete(seqNo);
      onSilence();
    });
  }

  private indirectProbe(target: Member, seqNo: number, probe: PendingProbe, deadline: number): void {
    const { core } = this;
    const relays = core.members.sample(core.profile.indirectChecks, (m) => m !== target && isLive(m));
    probe.relays = relays.length;
    for (const relay of relays) {
      const nack = core.lifeguard && (relay.vsn[1] ?? 0) >= NACK_MIN_PROTOCOL;
      if (nack) probe.expectedNacks++;
      core.send(relay.addr, [core.indirectPingFor(target, seqNo, nack)]);
    }
    if (!probe.tcp) this.tcpFallback(target, seqNo, probe, deadline);
  }

  private tcpFallback(target: Member, seqNo: number, probe: PendingProbe, deadline: number): void {
    const { core } = this;
    if (core.config.tcpPing === false || (target.vsn[1] ?? 0) < 3) return;
    probe.tcp = true;
    probe.tcpPending = true;
    probe.dialledAt = core.now;
    this.dialled.set(seqNo, { to: target.addr, name: target.name });
    core.trace(target.name, { step: 'dial' });
    core.outputs.push({ kind: 'tcpPing', to: target.addr, ping: core.pingFor(target.name, seqNo), deadline });
  }

  private probeFailed(name: string, seqNo: number, probe: PendingProbe): void {
    const { core } = this;
    this.pending.delete(seqNo);
    if (probe.acked) return;
    // Judged before this probe's own Lifeguard penalty, which is about the target's silence.
    const voter = this.hooks.canVote(probe.sentAt, probe.refused === true);
    // Lifeguard: missing nacks mean our own network or CPU is the problem, not the target. A
    // probe a refusal ended early proves neither, and its relays' nacks are not due yet.
    if (!(probe.refused && this.hooks.refusalEndsProbe())) {
      const delta = probe.expectedNacks > 0 ? Math.max(0, probe.expectedNacks - probe.nacks) : 1;
      core.awareness.apply(delta);
    }
    const target = core.members.get(name);
    if (!target || (target.status !== 'alive' && target.status !== 'suspect')) return;
    const held = this.hooks.mayAccuse(name, probe.incarnation, voter, probe.sentAt);
    core.trace(name, { step: 'failed', voter, accused: held !== undefined });
    if (held === undefined) return;
    // The kernel refused at the dial; a stalled loop reads it late, and that delay is not the
    // member's refutation window (a live member's kernel accepts: it is never accused this way).
    const refusedAgo =
      probe.refused && probe.dialledAt !== undefined && this.hooks.refusalCountsFromDial()
        ? core.now - probe.dialledAt
        : 0;
    const silentMs = Math.max(held, refusedAgo);
    // memberlist probes a copy of the member's state: a refutation that arrived while the probe
    // was out (a restarted member's, typically) makes this accusation stale, and it is dropped.
    // Accusing the current incarnation instead pinned the old life's silence on the new one.
    this.hooks.accuse(
      { type: 'suspect', incarnation: probe.incarnation, node: name, from: core.self.name },
      {
        kind: 'probe',
        relays: probe.relays ?? 0,
        nacks: probe.nacks,
        tcp: probe.tcp ?? false,
        ...(probe.refused ? { refused: true, refusedAt: core.now - refusedAgo } : {}),
        health: core.awareness.health(),
        silentMs,
      },
    );
  }

  private nextSeq(): number {
    this.seqNo = (this.seqNo + 1) >>> 0;
    return this.seqNo;
  }
}

function replyAddress(from: Address, sourceAddr?: Uint8Array, sourcePort?: number): Address {
  const host = sourceAddr && sourceAddr.length > 0 ? bytesToIp(sourceAddr) : undefined;
  return host !== undefined && sourcePort ? { host, port: sourcePort } : from;
}
