// Who votes in an election group, and how the group's configuration follows membership. Pure
// functions: every agent that holds the same catalog and membership view computes the same answer.
//
// Voters = the candidates (agents hosting an instance of the service, or holding a lock request)
// plus witnesses, so that a group has at least `target` voters (3 or 5) and a two-host pair can
// still fail over. Witnesses are drawn from the other alive members by a rendezvous hash on the
// group name (so groups spread over the cluster and a choice survives unrelated joins), preferring
// zones no voter is in yet. Current voters that are still usable are kept, so a new member with a
// lower hash does not churn the configuration.
//
// The configuration moves one server at a time (Raft's single-server changes): first a voter dead
// past the grace is removed, then a missing desired voter is added, then a voter no longer wanted
// is removed. A change is planned only if the alive voters of the NEW configuration form its
// majority: a change that would knowingly lose quorum is never proposed.

import { createHash } from 'node:crypto';
import { isLive, type MemberStatus } from '../base/member-status.ts';
import { compareStrings } from '../routing/canonical.ts';

/** Largest group: more voters only slow commits; 7 tolerates 3 failures. */
export const MAX_VOTERS = 7;

export type VoterStatus = MemberStatus;

export interface VoterMember {
  readonly name: string;
  readonly status: VoterStatus;
  readonly zone: string;
}

/** A member can vote now: alive, or suspected but not declared dead. */
export function isUsable(m: VoterMember | undefined): boolean {
  return isLive(m);
}

/** Rendezvous rank of a node for a group: lower is preferred. */
export function rendezvousRank(group: string, node: string): string {
  return createHash('sha256').update(group).update('\0').update(node).digest('hex');
}

function byRank(group: string): (a: string, b: string) => number {
  return (a, b) => compareStrings(rendezvousRank(group, a), rendezvousRank(group, b)) || compareStrings(a, b);
}

export interface VoterInput {
  readonly group: string;
  /** Voters wanted (3 or 5); more when there are more usable candidates (then rounded up to odd). */
  readonly target: number;
  /** Nodes hosting an instance (or holding a lock request), in any order. */
  readonly candidates: readonly string[];
  readonly members: readonly VoterMember[];
  /** The group's current configuration, if it has one: usable voters in it are kept. */
  readonly current?: readonly string[];
}

/** The voters the group should have: sorted by name. */
export function desiredVoters(input: VoterInput): string[] {
  const members = new Map(input.members.map((m) => [m.name, m]));
  const usable = (n: string) => isUsable(members.get(n));
  const candidates = [...new Set(input.candidates)].filter(usable).sort(byRank(input.group));
  let size = Math.max(input.target, Math.min(candidates.length, MAX_VOTERS));
  if (size % 2 === 0) size = Math.min(size + 1, MAX_VOTERS);
  const chosen = candidates.slice(0, size);
  const zones = new Set(chosen.map((n) => members.get(n)!.zone));
  const pick = (n: string) => {
    chosen.push(n);
    zones.add(members.get(n)!.zone);
  };
  const taken = new Set(candidates);
  // Witnesses already in the configuration stay while usable.
  for (const n of [...(input.current ?? [])].sort(byRank(input.group))) {
    if (chosen.length >= size) break;
    if (!taken.has(n) && usable(n)) {
      taken.add(n);
      pick(n);
    }
  }
  const pool = input.members
    .filter((m) => isUsable(m) && !taken.has(m.name))
    .map((m) => m.name)
    .sort(byRank(input.group));
  while (chosen.length < size && pool.length > 0) {
    // Another zone first: a witness in a zone with no voter survives that zone's loss.
    const i = Math.max(
      0,
      pool.findIndex((n) => !zones.has(members.get(n)!.zone)),
    );
    pick(pool.splice(i, 1)[0]!);
  }
  return chosen.sort(compareStrings);
}

/**
 * The one node that creates the group's first configuration: the usable candidate ranked first.
 * Every other voter starts empty and learns the configuration from the bootstrapper's log, so one
 * group never holds two independent logs as long as the agents' candidate views agree at start.
 */
export function bootstrapper(group: string, candidates: readonly string[], members: readonly VoterMember[]) {
  const byName = new Map(members.map((m) => [m.name, m]));
  return [...new Set(candidates)].filter((n) => isUsable(byName.get(n))).sort(byRank(group))[0];
}

export interface ChangeInput {
  readonly current: readonly string[];
  readonly desired: readonly string[];
  readonly members: readonly VoterMember[];
  /** When each node was first seen dead or left (absent: not dead). */
  readonly deadSince: ReadonlyMap<string, number>;
  readonly now: number;
  /** A dead voter is replaced only after this long, so a restart does not churn the group. */
  readonly graceMs: number;
  /** The leader proposing: never removed here (it transfers leadership first). */
  readonly leader: string;
}

export type PlannedChange = { readonly add: string } | { readonly remove: string };

/** The next single-server change towards `desired`, or undefined when none is due or safe. */
export function nextConfChange(input: ChangeInput): PlannedChange | undefined {
  const members = new Map(input.members.map((m) => [m.name, m]));
  const usable = (n: string) => isUsable(members.get(n));
  const current = [...input.current].sort(compareStrings);
  const desired = new Set(input.desired);
  const safe = (next: readonly string[]) => next.filter(usable).length >= Math.floor(next.length / 2) + 1;
  const without = (n: string) => current.filter((v) => v !== n);

  const deadPastGrace = current.filter((n) => {
    if (n === input.leader || usable(n)) return false;
    const since = input.deadSince.get(n);
    return since === undefined ? !members.has(n) : input.now - since >= input.graceMs;
  });
  for (const n of deadPastGrace) if (safe(without(n))) return { remove: n };

  // Grow into a free slot; at or over full size only when every voter is usable (a voter dead
  // within the grace keeps its slot: it may be back soon). Over full size too: a group left larger
  // than wanted by a move whose target changed midway ({a,b,w1,w2} when candidate c appears) can
  // only shrink once every desired voter is in, so it must be able to add c first.
  const room = current.length < desired.size || (current.length < MAX_VOTERS && current.every(usable));
  for (const n of [...desired].sort(compareStrings)) {
    if (room && !current.includes(n) && usable(n) && safe([...current, n])) return { add: n };
  }

  // Shrink only once every desired voter is in (or the group is at its largest and cannot add
  // one first), and never below what is wanted.
  const complete = [...desired].every((n) => current.includes(n));
  if (current.length > desired.size && (complete || current.length >= MAX_VOTERS)) {
    for (const n of current) {
      if (n !== input.leader && !desired.has(n) && (usable(n) || deadPastGrace.includes(n)) && safe(without(n))) {
        return { remove: n };
      }
    }
  }
  return undefined;
}
