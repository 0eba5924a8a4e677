// The routing plane: pure functions from the membership view and the catalog to routing tables.
// No I/O, no clocks, no state across calls (the failback hold-down is read from the records'
// recoveredAt, so every agent agrees, a restarted one included): the caller keeps the tables and
// numbers the change events. Wiring, in outline:
//
//   let tables: readonly RoutingTable[] = [];
//   // on every catalog or membership change, and at `nextEvaluationAt` when it is not null:
//   const r = computeRouting({ records, members: engine.memberViews(), localZone, now: Date.now() });
//   for (const change of diffTables(tables, r.tables)) publish({ index: ++index, ...change });
//   tables = r.tables;
//
// The local agent's own health enters through its own node record, which it authors and so always
// holds in its newest version.

export { canonicalJson, compareStrings } from './canonical.ts';
export {
  applyRecord,
  type Catalog,
  catalogVersions,
  compareRecords,
  liveRecords,
  mergeCatalogs,
  pruneUnknown,
} from './catalog-merge.ts';
export { diffTables } from './changes.ts';
export { computeRouting } from './compute.ts';
export {
  DEFAULT_FAILBACK_HOLD_DOWN_MS,
  DEFAULT_OVERPROVISIONING_FACTOR,
  DEFAULT_PANIC_THRESHOLD,
  ROUTING_DEFAULTS,
  SHARE_UNITS,
} from './defaults.ts';
export type {
  Endpoint,
  EndpointState,
  MemberInput,
  MemberStatus,
  RoutingChange,
  RoutingInput,
  RoutingOptions,
  RoutingResult,
  RoutingTable,
  TierSummary,
} from './types.ts';
