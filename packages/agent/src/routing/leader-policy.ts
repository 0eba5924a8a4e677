// Policy `leader`: all traffic goes to the instance of the group's leader; every other instance
// is standby. Which leader: each leader publishes (group, token, term, instance) in its own catalog
// record, and the claim with the HIGHEST token among nodes not known dead or left wins. Tokens
// only rise across a group's history, so a deposed leader whose record still lingers (partitioned,
// or not yet republished) loses to its successor on every agent, and agents holding the same
// records agree. Health does not move a leader's traffic: the election does (a leader that fails
// its checks is the election's business, through its hooks or a step-down).

import type { LeaderClaim, NodeRecord } from '@vigil/protocol';
import { compareStrings } from './canonical.ts';
import type { NodeCondition } from './eligibility.ts';

export interface ElectedLeader {
  readonly node: string;
  readonly claim: LeaderClaim;
}

/** The winning claim for `group`, from the newest record per node (see catalog-merge). */
export function electedLeader(
  group: string,
  records: readonly NodeRecord[],
  conditions: ReadonlyMap<string, NodeCondition>,
): ElectedLeader | undefined {
  let best: ElectedLeader | undefined;
  for (const record of records) {
    const condition = conditions.get(record.node);
    if (condition === undefined || condition === 'dead' || condition === 'left') continue;
    for (const claim of record.leads ?? []) {
      if (claim.group !== group) continue;
      if (best === undefined || compareClaims({ node: record.node, claim }, best) > 0) {
        best = { node: record.node, claim };
      }
    }
  }
  return best;
}

/** Higher token wins; equal tokens (one leadership seen twice, a bug elsewhere) break by term, then node. */
function compareClaims(a: ElectedLeader, b: ElectedLeader): number {
  return a.claim.token - b.claim.token || a.claim.term - b.claim.term || compareStrings(b.node, a.node);
}
