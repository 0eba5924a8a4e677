import type { Suspect } from '@vigil/protocol';
import { BoundedLists } from './bounded-lists.ts';
import type { MembershipEvent, SuspicionCause } from './swim-engine.ts';

/** One path a failed probe tried. */
export interface ProbePath {
  readonly path: 'direct' | 'indirect' | 'tcp';
  /** Who probed: the accuser or confirmer. */
  readonly by: string;
  /** indirect: how many relays were asked, and how many said they could not reach it (nacks). */
  readonly relays?: number;
  readonly nacks?: number;
  /** tcp: the connect was refused (nothing listened on the member's gossip port). */
  readonly refused?: boolean;
}

export interface Confirmation {
  readonly by: string;
  /** Wall-clock ms when this agent learnt of it. */
  readonly at: number;
  /** Known when the confirmer is this agent; a remote confirmer's probe is not gossiped. */
  readonly paths?: readonly ProbePath[];
  readonly health?: number;
}

export type SuspicionEnd = 'refuted' | 'dead' | 'left' | 'superseded';

/** One suspicion of one incarnation of a member, as this agent saw it. */
export interface Verdict {
  readonly incarnation: number;
  /** Wall-clock ms when this agent took in the first accusation. */
  readonly suspectedAt: number;
  /** Absent while unknown: a push/pull state names nobody; the first accusation heard after it fills it in. */
  accuser?: string;
  /**
   * How this agent learnt of it: `probe` (this agent's own probe failed: paths and health score
   * known), `gossip` (another member's accusation), `merge` (a push/pull state said suspect; it
   * names no observer, so neither this agent nor anyone else is recorded as accuser or confirmer).
   */
  readonly cause: SuspicionCause['kind'];
  /** The accuser's Lifeguard health score when it accused (0 is healthy); this agent's only. */
  accuserHealth?: number;
  paths?: readonly ProbePath[];
  readonly confirmations: Confirmation[];
  end?: { readonly how: SuspicionEnd; readonly at: number; readonly incarnation: number };
}

/** Suspicions kept per member, and members tracked: memory stays bounded whatever the cluster does. */
export const VERDICTS_PER_MEMBER = 8;
export const MAX_TRACKED_MEMBERS = 1024;
const MAX_CONFIRMATIONS = 16;

/**
 * Why members were suspected and how it ended: an observer of the SWIM engine's suspicion hook
 * (who accused, who confirmed, over which paths, with which health) and of its events (refuted,
 * dead, left). Nothing here feeds back into membership.
 */
export class VerdictLog {
  private readonly byMember = new BoundedLists<Verdict>(MAX_TRACKED_MEMBERS, VERDICTS_PER_MEMBER);
  private readonly self: string;
  private readonly wallNow: () => number;

  constructor(self: string, wallNow: () => number) {
    this.self = self;
    this.wallNow = wallNow;
  }

  /** The engine's onSuspicion hook: an accusation or a confirmation it took in. */
  suspicion(s: Suspect, cause: SuspicionCause): void {
    if (s.node === this.self) return;
    const list = this.byMember.listFor(s.node);
    const open = list.at(-1);
    const at = this.wallNow();
    const paths = pathsOf(s.from, cause);
    const health = cause.kind === 'probe' || cause.kind === 'confirm' ? cause.health : undefined;
    if (open && open.end === undefined && open.incarnation === s.incarnation) {
      if (cause.kind === 'merge') return; // someone else's view, no observation (README, rule 7)
      if (open.accuser === undefined) {
        open.accuser = s.from;
        if (health !== undefined) open.accuserHealth = health;
        if (paths) open.paths = paths;
        return;
      }
      if (s.from === open.accuser || open.confirmations.some((c) => c.by === s.from)) return;
      if (open.confirmations.length >= MAX_CONFIRMATIONS) return;
      open.confirmations.push({
        by: s.from,
        at,
        ...(paths ? { paths } : {}),
        ...(health === undefined ? {} : { health }),
      });
      return;
    }
    if (open && open.end === undefined) open.end = { how: 'superseded', at, incarnation: s.incarnation };
    this.byMember.push(s.node, {
      incarnation: s.incarnation,
      suspectedAt: at,
      ...(cause.kind === 'merge' ? {} : { accuser: s.from }),
      cause: cause.kind,
      ...(health === undefined ? {} : { accuserHealth: health }),
      ...(paths ? { paths } : {}),
      confirmations: [],
    });
  }

  /** The engine's events: how an open suspicion ended. */
  event(e: MembershipEvent): void {
    const how: SuspicionEnd | undefined =
      e.type === 'alive' ? 'refuted' : e.type === 'dead' ? 'dead' : e.type === 'left' ? 'left' : undefined;
    if (how === undefined) return;
    const open = this.byMember.get(e.member.name).at(-1);
    if (open && open.end === undefined) open.end = { how, at: this.wallNow(), incarnation: e.member.incarnation };
  }

  /** Newest first. */
  history(member: string): readonly Verdict[] {
    return [...this.byMember.get(member)].reverse();
  }
}

function pathsOf(by: string, cause: SuspicionCause): ProbePath[] | undefined {
  if (cause.kind === 'probe' && cause.connectOnly) return [{ path: 'tcp', by, refused: true }];
  if (cause.kind === 'probe') {
    return [
      { path: 'direct', by },
      { path: 'indirect', by, relays: cause.relays, nacks: cause.nacks },
      ...(cause.tcp ? [{ path: 'tcp' as const, by, ...(cause.refused ? { refused: true } : {}) }] : []),
    ];
  }
  if (cause.kind === 'confirm')
    return [
      { path: 'direct', by },
      { path: 'indirect', by, relays: cause.relays },
    ];
  return undefined;
}
