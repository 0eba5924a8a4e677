import type { GossipStats } from './planes.ts';

/** Per member, how many times it went suspect, alive (after a suspicion) and dead. */
export type MemberTransitions = ReadonlyMap<string, Readonly<Record<'suspect' | 'alive' | 'dead', number>>>;

/** Members whose transitions are counted; past this, new names are not (the cluster is bounded). */
const MAX_COUNTED_MEMBERS = 4096;

/**
 * Counts member transitions from the agent's start, for vigil_member_transitions_total. Separate
 * from the metrics registry because that is built only when first needed (prom-client loads after
 * the API answers), and the transitions before that must count too.
 */
export function countMemberTransitions(membership: Pick<GossipStats, 'on'>): () => MemberTransitions {
  const transitions = new Map<string, Record<'suspect' | 'alive' | 'dead', number>>();
  membership.on('event', (e) => {
    if (e.type !== 'suspect' && e.type !== 'alive' && e.type !== 'dead') return;
    let counts = transitions.get(e.member.name);
    if (counts === undefined) {
      if (transitions.size >= MAX_COUNTED_MEMBERS) return;
      counts = { suspect: 0, alive: 0, dead: 0 };
      transitions.set(e.member.name, counts);
    }
    counts[e.type] += 1;
  });
  return () => transitions;
}
