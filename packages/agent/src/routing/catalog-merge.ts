// The catalog as a last-writer-wins map from node name to that node's record, as pure functions.
//
// A catalog is an array of NodeRecords sorted by node name, one per node. The merge keeps, per node,
// the record with the newest (epoch, seq); records of equal version are ordered by their canonical
// JSON, so that even a (buggy) author that reuses a version cannot make two agents disagree. That
// order is total, so merge is a join: commutative, associative and idempotent. Agents that have
// received the same records, in any order and with any duplicates, hold equal catalogs.
//
// A record is never dropped because its node is dead or left: its version stays, so an old copy
// still travelling through gossip or anti-entropy cannot come back. Routing is what ignores such
// nodes (liveRecords below, and computeRouting's eligibility rules).

import { compareVersion, type NodeRecord } from '@vigil/protocol';
import { canonicalJson, compareStrings } from './canonical.ts';
import { nodeConditions } from './eligibility.ts';
import type { MemberInput } from './types.ts';

/** A catalog: sorted by node name, at most one record per node. */
export type Catalog = readonly NodeRecord[];

/** > 0 when `a` wins over `b`: newer version, then the greater canonical JSON. */
export function compareRecords(a: NodeRecord, b: NodeRecord): number {
  const byVersion = compareVersion(a, b);
  if (byVersion !== 0) return Math.sign(byVersion);
  if (a === b) return 0;
  return compareStrings(canonicalJson(a), canonicalJson(b));
}

/**
 * The newest record per node among any number of record lists (catalogs or raw batches, in any
 * order, duplicates allowed). Returns a catalog; the inputs are not changed.
 */
export function mergeCatalogs(...sources: readonly (readonly NodeRecord[])[]): NodeRecord[] {
  const best = new Map<string, NodeRecord>();
  for (const source of sources) {
    for (const record of source) {
      const held = best.get(record.node);
      if (held === undefined || compareRecords(record, held) > 0) best.set(record.node, record);
    }
  }
  return [...best.values()].sort((a, b) => compareStrings(a.node, b.node));
}

/**
 * One incoming record. `accepted` is true when it replaced what the catalog held for its node (or
 * the node was new): the caller forwards or counts it. A stale or duplicate record leaves the
 * catalog as it was (the same array is returned).
 */
export function applyRecord(catalog: Catalog, record: NodeRecord): { catalog: Catalog; accepted: boolean } {
  const i = findNode(catalog, record.node);
  const held = i >= 0 ? catalog[i] : undefined;
  if (held !== undefined && compareRecords(record, held) <= 0) return { catalog, accepted: false };
  const next = catalog.slice();
  if (held !== undefined) next[i] = record;
  else next.splice(-i - 1, 0, record);
  return { catalog: next, accepted: true };
}

/** The (node, epoch, seq) of each record, sorted by node: what anti-entropy compares. */
export function catalogVersions(catalog: Catalog): { node: string; epoch: number; seq: number }[] {
  return mergeCatalogs(catalog).map((r) => ({ node: r.node, epoch: r.epoch, seq: r.seq }));
}

/**
 * The records routing may use: those whose node the membership view knows and does not show as
 * dead or left. (computeRouting applies the same rule itself; this is for readers such as the
 * catalog HTTP endpoints.)
 */
export function liveRecords(catalog: Catalog, members: readonly MemberInput[]): NodeRecord[] {
  const conditions = nodeConditions(members);
  return mergeCatalogs(catalog).filter((r) => {
    const c = conditions.get(r.node);
    return c === 'alive' || c === 'suspect' || c === 'confirmed-suspect';
  });
}

/**
 * Drops the records of nodes the membership view no longer knows at all (reaped after Serf's
 * reconnect or tombstone timeout). Safe: routing ignores records of unknown nodes, and a node that
 * comes back publishes a record of a newer epoch (a restart) or the same current record.
 */
export function pruneUnknown(catalog: Catalog, members: readonly MemberInput[]): NodeRecord[] {
  const conditions = nodeConditions(members);
  return mergeCatalogs(catalog).filter((r) => conditions.has(r.node));
}

/** Binary search: the index of `node`, or −(insertion point) − 1. Assumes a sorted catalog. */
function findNode(catalog: Catalog, node: string): number {
  let lo = 0;
  let hi = catalog.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = compareStrings(catalog[mid]!.node, node);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}
