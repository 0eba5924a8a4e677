// computeRouting: membership view + catalog (with each instance's recoveredAt, for the failback hold-down) →
// one routing table per service. A pure function: it reads nothing but its argument, changes
// nothing, and sorts everything it prints, so agents with equal inputs hold byte-identical tables.
//
// Eligibility of an instance (first rule that applies):
//   node unknown to membership, or left    → not in the service at all (a graceful departure, or a
//                                             node already reaped: its record may linger)
//   in maintenance                         → drained: never routed, not counted in tier health
//   node dead                              → lost: never routed, but counted in its tier's health
//                                             as failed capacity (as Consul's serfHealth marks a
//                                             failed node's services critical until it is reaped),
//                                             so a crash spills load instead of crushing survivors
//   health critical                        → critical: routed only in panic
//   node confirmed suspect                 → demoted: not healthy; routed only as a last resort
//                                             (nothing healthy left in the service) or in panic
//   otherwise (passing or warning, node alive or suspect without confirmation) → healthy
// A plain suspect is not demoted: one degraded observer must not drain a healthy host. Warning
// counts as healthy, as Consul's DNS interface does (only critical is dropped); the endpoint keeps
// health 'warning' so a client can tell, and the Consul-compatible `?passing` filter drops it.
//
// Per service (policy = the most common declared by its instances; a tie is active-passive):
//   tiers       active-passive: one tier per priority; active-active: a single tier 0.
//   health      per tier, Envoy: min(100%, 1.4 × usable / total); held down on the way up (see
//               holdDown) so that failback waits.
//   loads       Envoy's cascade: the lowest tier takes what its health allows, the remainder
//               spills to the next tiers; panic (below 50% usable, while the tiers together
//               cannot carry the load) spreads a tier's load over all its routable instances.
//   zones       within a tier not in panic, the local zone is preferred the same way: it takes
//               min(100%, 1.4 × its usable / its total) of the tier's load and other zones share
//               the rest, so a lone local survivor is not crushed; if one side has nothing usable
//               the other takes all. Panic ignores zones (Envoy's zone-aware routing does too).
//   weights     within a zone group (or a panicking tier) traffic follows the instances' weights.
//   last resort if nothing in the service is healthy, demoted instances play the healthy role.

import type { FailoverPolicy, InstanceRecord, NodeRecord } from '@vigil/protocol';
import { apportion, compareStrings } from './canonical.ts';
import { mergeCatalogs } from './catalog-merge.ts';
import { ROUTING_DEFAULTS, SHARE_UNITS } from './defaults.ts';
import { classify, type InstanceClass, nodeConditions } from './eligibility.ts';
import { type ElectedLeader, electedLeader } from './leader-policy.ts';
import { holdDown, priorityLoads, type TierCounts, tierHealth } from './priority-load.ts';
import type { Endpoint, RoutingInput, RoutingOptions, RoutingResult, RoutingTable, TierSummary } from './types.ts';

export function resolveOptions(options: Partial<RoutingOptions> | undefined): RoutingOptions {
  const o: RoutingOptions = { ...ROUTING_DEFAULTS, ...stripUndefined(options ?? {}) };
  if (!(o.panicThreshold >= 0 && o.panicThreshold <= 1)) throw new RangeError('panicThreshold must be in [0, 1]');
  if (!(o.overprovisioningFactor >= 1 && Number.isFinite(o.overprovisioningFactor))) {
    throw new RangeError('overprovisioningFactor must be a finite number >= 1');
  }
  if (!(o.failbackHoldDownMs >= 0)) throw new RangeError('failbackHoldDownMs must be >= 0');
  return o;
}

interface Candidate {
  readonly node: string;
  readonly instance: InstanceRecord;
  readonly cls: InstanceClass;
  readonly onConfirmedSuspect: boolean;
  readonly weight: number;
  readonly local: boolean;
  /** Set once the policy is known. */
  tier: number;
  exact: number;
}

export function computeRouting(input: RoutingInput): RoutingResult {
  const options = resolveOptions(input.options);
  const conditions = nodeConditions(input.members);
  const ejected = new Set(input.ejected?.map((e) => `${e.node}\u0000${e.id}`));

  const records = mergeCatalogs(input.records);
  const byService = new Map<string, Candidate[]>();
  for (const record of records) {
    const condition = conditions.get(record.node);
    for (const instance of uniqueInstances(record)) {
      if (input.services !== undefined && !input.services.has(instance.service)) continue;
      let cls = classify(instance, condition);
      if (cls === undefined) continue;
      const isEjected = ejected.has(`${record.node}\u0000${instance.id}`);
      if (cls === 'healthy' && isEjected) cls = 'demoted';
      const list = byService.get(instance.service) ?? [];
      list.push({
        node: record.node,
        instance,
        cls,
        onConfirmedSuspect: condition === 'confirmed-suspect' || (isEjected && cls === 'demoted'),
        weight: Number.isFinite(instance.weight) && instance.weight > 0 ? instance.weight : 1,
        local: instance.zone === input.localZone,
        tier: 0,
        exact: 0,
      });
      byService.set(instance.service, list);
    }
  }

  const tables: RoutingTable[] = [];
  let nextEvaluationAt: number | null = null;
  for (const service of [...byService.keys()].sort(compareStrings)) {
    const candidates = byService.get(service)!.sort(candidateOrder);
    const policy = choosePolicy(candidates);
    const table =
      policy === 'leader'
        ? routeLeader(service, candidates, electedLeader(service, records, conditions))
        : routeService(service, policy, candidates, input.now, options);
    tables.push(table);
    for (const t of table.tiers) {
      if (t.failbackAt !== null && (nextEvaluationAt === null || t.failbackAt < nextEvaluationAt)) {
        nextEvaluationAt = t.failbackAt;
      }
    }
  }
  return { tables, nextEvaluationAt };
}

function routeService(
  service: string,
  policy: 'active-passive' | 'active-active',
  candidates: Candidate[],
  now: number,
  options: RoutingOptions,
): RoutingTable {
  for (const c of candidates) c.tier = policy === 'active-passive' ? tierOf(c.instance) : 0;

  const healthy = candidates.filter((c) => c.cls === 'healthy').length;
  const lastResort = healthy === 0 && candidates.some((c) => c.cls === 'demoted');
  const usableClass: InstanceClass = lastResort ? 'demoted' : 'healthy';
  const counted = (c: Candidate) => c.cls !== 'drained';
  const routable = (c: Candidate) => c.cls === 'healthy' || c.cls === 'demoted' || c.cls === 'critical';
  const usable = (c: Candidate) => c.cls === usableClass;

  const tierNumbers = [...new Set(candidates.filter(counted).map((c) => c.tier))].sort((a, b) => a - b);
  const members = tierNumbers.map((t) => candidates.filter((c) => c.tier === t));
  const counts: TierCounts[] = tierNumbers.map((tier, i) => ({
    tier,
    total: members[i]!.filter(counted).length,
    usable: members[i]!.filter(usable).length,
    routable: members[i]!.filter(routable).length,
  }));

  const raw = counts.map((t) => tierHealth(t, options.overprovisioningFactor));
  const recovering = candidates
    .filter((c) => usable(c) && c.instance.recoveredAt !== undefined)
    .map((c) => ({ tier: c.tier, until: c.instance.recoveredAt! + options.failbackHoldDownMs }))
    .filter((r) => r.until > now);
  const held = holdDown(counts, raw, recovering, options.overprovisioningFactor);
  const { loads, panic } = priorityLoads(counts, held.effective, options.panicThreshold);

  counts.forEach((_, i) => {
    const load = loads[i]!;
    if (load <= 0) return;
    const inTier = members[i]!;
    if (panic[i]) {
      spread(inTier.filter(routable), load);
      return;
    }
    const local = inTier.filter((c) => c.local && usable(c));
    const others = inTier.filter((c) => !c.local && usable(c));
    let localFraction = 0;
    if (local.length > 0) {
      const localTotal = inTier.filter((c) => c.local && counted(c)).length;
      localFraction =
        others.length === 0 ? 1 : Math.min(1, (options.overprovisioningFactor * local.length) / localTotal);
    }
    spread(local, load * localFraction);
    spread(others, load * (1 - localFraction));
  });

  // Listed: whatever may take traffic later (healthy, demoted) and whatever takes it now.
  const listed = candidates.filter((c) => c.cls === 'healthy' || c.cls === 'demoted' || (routable(c) && c.exact > 0));
  const units = apportion(
    listed.map((c) => c.exact),
    SHARE_UNITS,
  );
  const rows = listed
    .map((c, i) => ({ c, units: units[i]! }))
    .filter((r) => r.c.cls !== 'critical' || r.units > 0)
    .sort(rowOrder);
  const endpoints: Endpoint[] = rows.map(({ c, units }) => endpointOf(c, units));

  const tiers: TierSummary[] = counts.map((t, i) => {
    const tierUnits = rows.filter((r) => r.c.tier === t.tier).reduce((s, r) => s + r.units, 0);
    return {
      tier: t.tier,
      total: t.total,
      healthy: members[i]!.filter((c) => c.cls === 'healthy').length,
      load: tierUnits / SHARE_UNITS,
      panic: panic[i]! && loads[i]! > 0,
      failbackAt: held.heldUntil[i]!,
    };
  });

  const table: RoutingTable = {
    service,
    policy,
    redundancy: redundancy(healthy),
    panic: tiers.some((t) => t.panic),
    lastResort: lastResort && rows.some((r) => r.units > 0),
    tiers,
    endpoints,
  };
  return table;

  function spread(group: Candidate[], load: number): void {
    const weight = group.reduce((s, c) => s + c.weight, 0);
    if (weight <= 0 || load <= 0) return;
    for (const c of group) c.exact += (load * c.weight) / weight;
  }
}

function endpointOf(c: Candidate, units: number): Endpoint {
  return {
    node: c.node,
    id: c.instance.id,
    address: c.instance.address,
    port: c.instance.port,
    zone: c.instance.zone,
    tier: c.tier,
    weight: c.weight,
    share: units / SHARE_UNITS,
    state: c.onConfirmedSuspect ? 'demoted' : units > 0 ? 'active' : 'standby',
    health: c.instance.health,
    tags: c.instance.tags,
    meta: sortedMeta(c.instance.meta),
  };
}

/**
 * Policy `leader` (see leader-policy.ts): the leader's instance takes everything, whatever its
 * health or its node's suspicion; healthy others stand by. No hold-down: the election already
 * decided, and a leader change must move traffic at once.
 */
function routeLeader(service: string, candidates: Candidate[], elected: ElectedLeader | undefined): RoutingTable {
  const onLeader = elected
    ? candidates.filter((c) => c.node === elected.node && c.cls !== 'drained' && c.cls !== 'lost')
    : [];
  const chosen = onLeader.find((c) => c.instance.id === elected?.claim.instance) ?? onLeader[0];
  const healthy = candidates.filter((c) => c.cls === 'healthy').length;
  const rows = candidates
    .filter((c) => c === chosen || c.cls === 'healthy' || c.cls === 'demoted')
    .map((c) => ({ c, units: c === chosen ? SHARE_UNITS : 0 }))
    .sort(rowOrder);
  const endpoints = rows.map(({ c, units }) => {
    const e = endpointOf(c, units);
    // The leader is active even on a suspect node: only a new leader moves traffic.
    return units > 0 ? { ...e, state: 'active' as const } : e;
  });
  const counted = candidates.filter((c) => c.cls !== 'drained');
  const table: RoutingTable = {
    service,
    policy: 'leader',
    redundancy: redundancy(healthy),
    panic: false,
    lastResort: false,
    tiers:
      counted.length === 0
        ? []
        : [{ tier: 0, total: counted.length, healthy, load: chosen ? 1 : 0, panic: false, failbackAt: null }],
    endpoints,
    ...(chosen && elected
      ? { leader: { node: elected.node, id: chosen.instance.id, token: elected.claim.token, term: elected.claim.term } }
      : {}),
  };
  return table;
}

/** "N+k" with k = healthy − 1 (see RoutingTable): "N+0" for one healthy instance, "N-1" for none. */
export function redundancy(healthy: number): string {
  const spare = healthy - 1;
  return spare < 0 ? `N${spare}` : `N+${spare}`;
}

/** Meta with its keys sorted, so the printed table does not depend on how a record was decoded. */
function sortedMeta(meta: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(meta).sort(([a], [b]) => compareStrings(a, b)));
}

/** The most common declared policy; a tie (or an empty service) is active-passive. */
export function choosePolicy(candidates: readonly { instance: InstanceRecord }[]): FailoverPolicy {
  const counts = { 'active-passive': 0, 'active-active': 0, leader: 0 };
  for (const c of candidates) counts[c.instance.policy] = (counts[c.instance.policy] ?? 0) + 1;
  if (counts.leader > candidates.length - counts.leader) return 'leader';
  return counts['active-active'] > candidates.length - counts['active-active'] ? 'active-active' : 'active-passive';
}

function tierOf(instance: InstanceRecord): number {
  return Number.isFinite(instance.priority) ? instance.priority : 0;
}

/** A record's instances, one per (service, id): the first wins (the record's own order). */
function uniqueInstances(record: NodeRecord): InstanceRecord[] {
  const seen = new Set<string>();
  const out: InstanceRecord[] = [];
  for (const instance of record.instances) {
    const key = JSON.stringify([instance.service, instance.id]);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(instance);
  }
  return out;
}

function candidateOrder(a: Candidate, b: Candidate): number {
  return compareStrings(a.node, b.node) || compareStrings(a.instance.id, b.instance.id);
}

interface Row {
  readonly c: Candidate;
  readonly units: number;
}

/** Traffic first (largest share first), then standbys, then demoted; then tier, local zone, zone, node, id. */
function rowOrder(a: Row, b: Row): number {
  return (
    rowGroup(a) - rowGroup(b) ||
    b.units - a.units ||
    a.c.tier - b.c.tier ||
    Number(b.c.local) - Number(a.c.local) ||
    compareStrings(a.c.instance.zone, b.c.instance.zone) ||
    candidateOrder(a.c, b.c)
  );
}

function rowGroup(r: Row): number {
  return r.units > 0 ? 0 : r.c.onConfirmedSuspect ? 2 : 1;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
