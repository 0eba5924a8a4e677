import type { NodeId } from './types.ts';

/** The number of voters that make a majority of `voters`. */
export function quorumSize(voters: readonly NodeId[]): number {
  return Math.floor(voters.length / 2) + 1;
}

/**
 * The largest value a majority of `voters` has reached (voters without a value count as -Infinity):
 * the commit index over match indexes, or the lease's round over acknowledged send times.
 */
let scratch = new Float64Array(16);

export function quorumValue(voters: readonly NodeId[], valueFor: (id: NodeId) => number | undefined): number {
  const n = voters.length;
  if (n === 0) return Number.NEGATIVE_INFINITY;
  if (scratch.length < n) scratch = new Float64Array(n * 2);
  const values = scratch;
  for (let i = 0; i < n; i++) values[i] = valueFor(voters[i]!) ?? Number.NEGATIVE_INFINITY;
  // Insertion sort, descending: groups are a handful of voters.
  for (let i = 1; i < n; i++) {
    const v = values[i]!;
    let j = i - 1;
    while (j >= 0 && values[j]! < v) {
      values[j + 1] = values[j]!;
      j--;
    }
    values[j + 1] = v;
  }
  return values[quorumSize(voters) - 1]!;
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** etcd's VoteResult: won once a majority granted, lost once a majority can no longer grant. */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const q = quorumSize(voters);
  if (granted >= q) return 'won';
  if (granted + missing >= q) return 'pending';
  return 'lost';
}
