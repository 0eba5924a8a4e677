import type { Alive, Dead, PushPull, Suspect } from '@vigil/protocol';
import { isLiveStatus, type MemberStatus } from '../base/member-status.ts';
import { internAddress, sameAddress } from './address.ts';
import type { Confirmation } from './confirmation.ts';
import type { EngineCore } from './engine-core.ts';
import type { Member } from './member-table.ts';
import { estimateSize } from './message-size.ts';
import { suspicionTimeoutMs } from './profiles.ts';
import { Suspicion } from './suspicion.ts';
import type { MembershipEvent, MembershipEventType, MemberView, SuspicionCause } from './swim-engine.ts';

/**
 * memberlist's state.go: alive, suspect and dead messages merged by incarnation, refutation of
 * accusations about ourselves, Lifeguard's suspicion timers, push/pull state merging, and the
 * membership events these changes emit.
 */
export class MemberStates {
  /** Ours, when collective confirmation is on (set once by the engine, which builds it after us). */
  confirmation: Confirmation | null = null;
  private readonly core: EngineCore;
  /** A member joined (fast join only): the engine gossips the news at once (eagerGossip). */
  private readonly onJoin: () => void;
  /**
   * Each suspect's suspicion and its timer, beside the member table rather than in it: the
   * simulator holds N^2 members, and every field on a member costs 0.8 GB at N = 10,000.
   */
  private readonly suspects = new Map<Member, { readonly suspicion: Suspicion; timer: number | undefined }>();
  private events: MembershipEvent[] = [];
  private eventIndex = 0;

  constructor(core: EngineCore, onJoin: () => void) {
    this.core = core;
    this.onJoin = onJoin;
  }

  drainEvents(): MembershipEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  aliveNode(a: Alive): void {
    let m = this.core.members.get(a.node);
    const addr = internAddress(a.addr, a.port);
    if (addr === undefined) return;
    // Fast path for the common case, old news about a member we know at this address.
    if (m && m !== this.core.self && a.incarnation <= m.incarnation && sameAddress(m.addr, addr)) return;
    const isSelf = a.node === this.core.self.name;

    if (isSelf) {
      // Someone holds another view of us (an old life, other metadata): out-bid it. As memberlist
      // does, a newer incarnation is refuted even with our metadata: a restarted agent starts at
      // 1 while the cluster may hold its old life at 5, and would otherwise stay behind, its own
      // alive messages (and a later metadata change) ignored by everyone.
      if (this.core.leaving || a.incarnation < this.core.self.incarnation) return;
      if (a.incarnation === this.core.self.incarnation && bytesEqual(a.meta, this.core.self.meta)) return;
      this.refute(a.incarnation);
      return;
    }

    let updatesNode = false;
    if (!m) {
      // memberlist starts newcomers as dead at incarnation 0, so any real alive (>= 1) wins.
      m = {
        name: a.node,
        addr,
        meta: a.meta,
        incarnation: 0,
        status: 'dead',
        stateChangeAt: this.core.now,
        vsn: a.vsn,
      };
      this.core.members.addNewcomer(m);
    } else if (!sameAddress(m.addr, addr)) {
      const reclaimable =
        m.status === 'left' ||
        (m.status === 'dead' && this.core.now - m.stateChangeAt >= this.core.profile.deadNodeReclaimMs);
      if (!reclaimable) return; // a live name claimed from another address: keep the one we know
      updatesNode = true;
    }
    if (a.incarnation <= m.incarnation && !updatesNode) return;

    const wasLive = isLiveStatus(m.status);
    const metaChanged = wasLive && (!bytesEqual(m.meta, a.meta) || !sameAddress(m.addr, addr));
    this.clearSuspicion(m);
    m.addr = addr;
    m.meta = a.meta;
    m.incarnation = a.incarnation;
    m.vsn = a.vsn;
    if (!this.core.preloading) this.core.broadcasts.queue(a, estimateSize(a), a.node);
    if (!wasLive) {
      if (!this.core.preloading && this.core.config.fastJoin !== false) this.onJoin();
      this.setStatus(m, 'alive', 'join');
    } else if (m.status === 'suspect') {
      this.setStatus(m, 'alive');
    } else if (metaChanged) {
      this.emit('update', m);
    }
  }

  suspectNode(s: Suspect, cause: SuspicionCause = { kind: 'gossip' }): void {
    const m = this.core.members.get(s.node);
    if (!m || s.incarnation < m.incarnation) return;
    this.core.config.onSuspicion?.(s, cause);
    // A suspicion about a newer incarnation means the member refuted ours and we missed it: this
    // is a new accusation, not a confirmation of one whose clock started long ago.
    if (this.suspects.has(m) && s.incarnation > m.incarnation) this.clearSuspicion(m);
    // Our own probe's refused connect (confirmation rule 6): a confirmed suspicion then ends sooner.
    const refusalMs = this.confirmation?.refusalSuspicionMs();
    const refusedAt =
      cause.kind === 'probe' && cause.refused === true && refusalMs !== undefined ? cause.refusedAt : undefined;
    // Independent confirmations re-gossip under their own key, so they spread side by side.
    const held = this.suspects.get(m);
    if (held) {
      if (refusedAt !== undefined) held.suspicion.noteRefusal(refusedAt);
      // Beyond k confirmations (memberlist's Confirm refuses them) we still count the observer
      // but do not re-gossip: every node would otherwise retransmit each one.
      const useful = held.suspicion.wantsConfirmations();
      if (held.suspicion.confirm(s.from)) {
        if (useful) this.core.broadcasts.queue(s, estimateSize(s), `${s.node}\0${s.from}`);
        this.rescheduleSuspicion(m);
        const observers = held.suspicion.observerCount();
        // The first observer of a merged suspicion (rule 7) is its accuser: told, or checked, as any.
        if (observers === 1) this.confirmation?.accused(m, s, cause);
        if (observers === 2) {
          this.emit('confirmed', m);
          // A chosen prober's check tells its own confirmation (confirmation.ts); a probe's is told here.
          const { accuser } = held.suspicion;
          if (cause.kind === 'probe' && accuser !== undefined) this.confirmation?.confirmedByUs(m, accuser, s);
        }
      } else if (refusedAt !== undefined) {
        this.rescheduleSuspicion(m);
      }
      return;
    }
    if (m.status === 'dead' || m.status === 'left') return;
    if (m === this.core.self) {
      if (!this.core.leaving) {
        this.refute(s.incarnation);
        this.core.awareness.apply(1);
      }
      return;
    }
    // Rule 7 (README): a push/pull state names no observer, so a merged suspicion counts none and
    // goes only to the suspect, to refute. memberlist (no confirmation) takes it as ours.
    const unobserved = cause.kind === 'merge' && this.confirmation !== null;
    if (unobserved) this.core.tellDirectly(m, [s], [m]);
    else this.core.broadcasts.queue(s, estimateSize(s), s.node);
    m.incarnation = s.incarnation;
    const n = this.core.members.liveCount();
    let k = this.core.profile.suspicionMult - 2;
    if (n - 2 < k) k = 0; // too few members to ever gather k confirmations
    const minMs = suspicionTimeoutMs(this.core.profile.suspicionMult, n, this.core.profile.probeIntervalMs);
    const suspicion = new Suspicion({
      from: unobserved ? undefined : s.from,
      // Our own accusation after a long silence (confirmation.ts): the member has had that long.
      startedAt: this.core.now - (cause.kind === 'probe' ? cause.silentMs : 0),
      k,
      minMs,
      maxMs: this.core.lifeguard ? this.core.profile.suspicionMaxTimeoutMult * minMs : minMs,
      refusalMs,
    });
    if (refusedAt !== undefined) suspicion.noteRefusal(refusedAt);
    this.suspects.set(m, { suspicion, timer: undefined });
    this.setStatus(m, 'suspect');
    this.rescheduleSuspicion(m);
    if (!unobserved) this.confirmation?.accused(m, s, cause);
  }

  private rescheduleSuspicion(m: Member): void {
    const held = this.suspects.get(m)!;
    this.core.timers.cancel(held.timer);
    const { suspicion } = held;
    const incarnation = m.incarnation;
    held.timer = this.core.timers.set(Math.max(this.core.now, suspicion.deadline()), () => {
      held.timer = undefined;
      if (m.status !== 'suspect' || m.incarnation !== incarnation) return;
      if (this.confirmation?.rechecksLoneSuspicion(m, incarnation, suspicion.observerCount())) return;
      const dead: Dead = { type: 'dead', incarnation, node: m.name, from: this.core.self.name };
      this.deadNode(dead);
      this.confirmation?.declaredDead(m, dead);
    });
  }

  deadNode(d: Dead): void {
    const m = this.core.members.get(d.node);
    if (!m || d.incarnation < m.incarnation) return;
    if (m.status === 'dead' || m.status === 'left') {
      // A leave announcement upgrades a failure we had already noticed.
      if (m.status === 'dead' && d.from === d.node) {
        this.core.broadcasts.queue(d, estimateSize(d), d.node);
        this.setStatus(m, 'left');
      }
      return;
    }
    if (m === this.core.self) {
      if (!this.core.leaving) {
        this.refute(d.incarnation);
        this.core.awareness.apply(1);
      }
      return;
    }
    this.clearSuspicion(m);
    m.incarnation = d.incarnation;
    this.core.broadcasts.queue(d, estimateSize(d), d.node);
    this.setStatus(m, d.from === d.node ? 'left' : 'dead');
  }

  private refute(accused: number): void {
    this.core.self.incarnation = Math.max(this.core.self.incarnation, accused) + 1;
    this.broadcastAlive(this.core.self);
    this.confirmation?.refuted();
  }

  broadcastAlive(m: Member): void {
    const alive = this.core.aliveMessage(m);
    this.core.broadcasts.queue(alive, estimateSize(alive), m.name);
  }

  clearSuspicion(m: Member): void {
    this.core.timers.cancel(this.suspects.get(m)?.timer);
    this.suspects.delete(m);
  }

  setStatus(m: Member, status: MemberStatus, eventType?: MembershipEventType): void {
    this.core.members.setStatus(m, status, this.core.now);
    this.emit(eventType ?? status, m);
  }

  emit(type: MembershipEventType, m: Member): void {
    if (this.core.preloading) return;
    this.events.push({ index: ++this.eventIndex, type, at: this.core.now, member: this.view(m) });
  }

  view(m: Member): MemberView {
    const confirmations = m.status === 'suspect' ? (this.suspects.get(m)?.suspicion.observerCount() ?? 1) : 0;
    return {
      name: m.name,
      addr: m.addr,
      meta: m.meta,
      incarnation: m.incarnation,
      status: m.status,
      confirmations,
      confirmedSuspect: confirmations >= 2,
      stateChangeAt: m.stateChangeAt,
    };
  }

  /** memberlist mergeState: a remote "dead" only makes us suspect, never kills outright. */
  mergeRemoteState(remote: PushPull): void {
    for (const n of remote.nodes) {
      switch (n.state) {
        case 0:
          this.aliveNode({
            type: 'alive',
            incarnation: n.incarnation,
            node: n.name,
            addr: n.addr,
            port: n.port,
            meta: n.meta,
            vsn: n.vsn,
          });
          break;
        case 3:
          this.deadNode({ type: 'dead', incarnation: n.incarnation, node: n.name, from: n.name });
          break;
        default: {
          const local = this.core.members.get(n.name);
          const held = local !== undefined && this.suspects.has(local) && local.incarnation === n.incarnation;
          if (this.confirmation?.ignoresMergedSuspicion(held)) break;
          this.suspectNode(
            { type: 'suspect', incarnation: n.incarnation, node: n.name, from: this.core.self.name },
            { kind: 'merge' },
          );
        }
      }
    }
    if (remote.userState.length > 0) this.core.config.delegate?.mergeRemoteState(remote.userState, remote.join);
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
