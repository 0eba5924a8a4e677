import { BoundedLists } from './bounded-lists.ts';

/**
 * One step of this agent's work on finding out whether a member is gone: the engine reports them
 * through `EngineConfig.onTrace`, the edge records them with wall-clock times. Issue 19: on a
 * starved cluster the seconds between a crash and the first accusation go somewhere in here (an
 * out-of-turn probe that never started, a TCP fallback dialled late, an accusation sent late).
 */
export type TraceStep =
  /** The catalog's hint (a dropped connection): `started` a probe, or not (`busy`: one was out). */
  | { readonly step: 'hint'; readonly result: 'started' | 'busy' | 'ignored' }
  /** A probe went out: in its turn, on a hint, or a re-probe (a silence being timed, a chosen prober). */
  | { readonly step: 'probe'; readonly why: 'turn' | 'hint' | 'reprobe'; readonly dialAtOnce: boolean }
  /**
   * A TCP ping of ours was dialled, and how it ended (`ignored`: refused by a port that refused
   * while its member answered over UDP, a firewall's doing, read as a plain failure).
   */
  | { readonly step: 'dial' }
  | { readonly step: 'tcp'; readonly result: 'ack' | 'refused' | 'ignored' | 'failed' }
  /** The member answered over UDP after its port refused us: its refusals count for nothing from now on. */
  | { readonly step: 'tcp-rejects' }
  /** A probe failed: whether it counted (`voter`) and whether it accused or was held back. */
  | { readonly step: 'failed'; readonly voter: boolean; readonly accused: boolean }
  | { readonly step: 'acked' }
  /** A chosen prober's check of an accusation, and a check whose silence did not count (we stalled). */
  | { readonly step: 'check' }
  | { readonly step: 'check-void' }
  /** Packets carrying a suspect message about the member left this agent (`own`: our accusation). */
  | { readonly step: 'sent-suspect'; readonly packets: number; readonly own: boolean };

export type TraceEntry = TraceStep & { readonly at: number };

/** Steps kept per member, and members tracked: bounded whatever the cluster does. */
const STEPS_PER_MEMBER = 48;
const MAX_TRACKED_MEMBERS = 1024;

/** The newest steps per member (GET /v1/members/:name `trail`); nothing here feeds back. */
export class ProbeTrail {
  private readonly lists = new BoundedLists<TraceEntry>(MAX_TRACKED_MEMBERS, STEPS_PER_MEMBER);
  private readonly wallNow: () => number;

  constructor(wallNow: () => number) {
    this.wallNow = wallNow;
  }

  note(member: string, step: TraceStep): void {
    this.lists.push(member, { ...step, at: this.wallNow() });
  }

  /** Oldest first. */
  steps(member: string): readonly TraceEntry[] {
    return [...this.lists.get(member)];
  }
}
