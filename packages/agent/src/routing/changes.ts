// Route change events: the difference between two sets of tables, in service-name order, so the
// caller can number them with its rising index and replay them to blocking queries and SSE.

import { canonicalJson, compareStrings } from './canonical.ts';
import type { RoutingChange, RoutingTable } from './types.ts';

/**
 * What changed from `before` to `after` (each a set of tables, at most one per service, in any
 * order): `added`, `changed` (any difference in the table, compared as canonical JSON) and
 * `removed`, sorted by service name. Equal sets give no events.
 */
export function diffTables(before: readonly RoutingTable[], after: readonly RoutingTable[]): RoutingChange[] {
  const old = new Map(before.map((t) => [t.service, t]));
  const now = new Map(after.map((t) => [t.service, t]));
  const names = [...new Set([...old.keys(), ...now.keys()])].sort(compareStrings);
  const changes: RoutingChange[] = [];
  for (const service of names) {
    const a = old.get(service);
    const b = now.get(service);
    if (a === undefined && b !== undefined) changes.push({ change: 'added', service, table: b });
    else if (a !== undefined && b === undefined) changes.push({ change: 'removed', service });
    else if (a !== undefined && b !== undefined && a !== b && canonicalOf(a) !== canonicalOf(b)) {
      changes.push({ change: 'changed', service, table: b });
    }
  }
  return changes;
}

/**
 * Tables are never changed once computed, and the mesh diffs each new set against the one it holds,
 * so every table's canonical JSON is computed once rather than on every recompute: with 30 services
 * the diff took 1.6 ms per recompute, more than computing the tables (1.0 ms), and 0.8 ms with this
 * (micro-benchmark on the shared 2-core host).
 */
const canonical = new WeakMap<RoutingTable, string>();

function canonicalOf(table: RoutingTable): string {
  let json = canonical.get(table);
  if (json === undefined) {
    json = canonicalJson(table);
    canonical.set(table, json);
  }
  return json;
}
