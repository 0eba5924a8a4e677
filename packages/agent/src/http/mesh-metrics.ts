import { META_PEER_ID } from '@vigil/protocol';
import type { Registry } from 'prom-client';
import type { MemberTransitions } from './member-transitions.ts';
import type { CatalogStatsReader, CatalogSync, GossipStats, RouteReader, ServiceReader } from './planes.ts';
import { counter, gauge, type Samples } from './prom-collectors.ts';

export interface MeshMetricsSources {
  readonly membership: GossipStats;
  readonly mesh: Pick<RouteReader, 'tables'> & CatalogSync;
  readonly catalog: CatalogStatsReader;
  readonly services: Pick<ServiceReader, 'listChecks'>;
  /** Member transitions counted since the start (see member-transitions.ts). */
  readonly transitions: () => MemberTransitions;
}

const STATES = ['active', 'standby', 'demoted'] as const;
const CHECK_STATUSES = ['passing', 'warning', 'critical'] as const;

/**
 * The figures operators alert on (packaging/prometheus/vigil-rules.yml): each service's endpoints
 * and redundancy, panic and pending failbacks; local checks; whether the catalog holds a record
 * from every live member; and member transitions, for flapping.
 */
export function registerMeshMetrics(registry: Registry, sources: MeshMetricsSources): void {
  const { mesh, membership, catalog, services, transitions } = sources;

  gauge(
    registry,
    'vigil_route_endpoints',
    "Endpoints of each service in this agent's routing table, by state.",
    ['service', 'state'],
    () =>
      mesh
        .tables()
        .flatMap((t) =>
          STATES.map(
            (state) => [{ service: t.service, state }, t.endpoints.filter((e) => e.state === state).length] as const,
          ),
        ),
  );
  gauge(
    registry,
    'vigil_route_redundancy',
    'k of the service\'s "N+k": healthy instances standing behind the active set (0: one more failure is an outage; -1: nothing healthy).',
    ['service'],
    () => mesh.tables().map((t) => [{ service: t.service }, redundancyNumber(t.redundancy)]),
  );
  gauge(
    registry,
    'vigil_route_panic',
    "1 while a tier carrying the service's traffic is in panic mode.",
    ['service'],
    () => mesh.tables().map((t) => [{ service: t.service }, t.panic ? 1 : 0]),
  );
  gauge(
    registry,
    'vigil_route_last_resort',
    '1 while nothing healthy remains and demoted instances take the traffic.',
    ['service'],
    () => mesh.tables().map((t) => [{ service: t.service }, t.lastResort ? 1 : 0]),
  );
  gauge(
    registry,
    'vigil_route_failback_pending',
    'Tiers of the service that recovered and wait out the failback hold-down before taking traffic back.',
    ['service'],
    () => mesh.tables().map((t) => [{ service: t.service }, t.tiers.filter((tier) => tier.failbackAt !== null).length]),
  );

  gauge(
    registry,
    'vigil_check_status',
    "Local health checks: 1 for the check's current status, 0 for the others.",
    ['check', 'service', 'status'],
    () =>
      services
        .listChecks()
        .flatMap((c) =>
          CHECK_STATUSES.map(
            (status) =>
              [
                { check: c.definition.id, service: c.definition.serviceId ?? '', status },
                c.status === status ? 1 : 0,
              ] as const,
          ),
        ),
  );
  gauge(
    registry,
    'vigil_check_duration_seconds',
    "How long each polling check's last run took.",
    ['check', 'service'],
    () =>
      services
        .listChecks()
        .flatMap(
          (c): Samples =>
            c.lastRunMs === undefined
              ? []
              : [[{ check: c.definition.id, service: c.definition.serviceId ?? '' }, c.lastRunMs / 1000]],
        ),
  );

  gauge(
    registry,
    'vigil_catalog_members_without_record',
    'Live members with a catalog identity whose service record this agent does not hold: its tables miss their services.',
    [],
    () => {
      const self = membership.localName();
      let missing = 0;
      for (const m of membership.members()) {
        if (m.name === self || (m.status !== 'alive' && m.status !== 'suspect') || !m.tags[META_PEER_ID]) continue;
        if (catalog.get(m.name) === undefined) missing++;
      }
      return [[{}, missing]];
    },
  );
  gauge(
    registry,
    'vigil_catalog_synced',
    '1 once the catalog holds a record from every live member after the start (or the grace time passed).',
    [],
    () => [[{}, mesh.isSynced() ? 1 : 0]],
  );

  counter(
    registry,
    'vigil_member_transitions_total',
    'Member status changes this agent saw, by member and new status (suspect, alive after a suspicion, dead): a member that keeps going suspect and back is flapping.',
    ['member', 'to'],
    () =>
      [...transitions()].flatMap(([member, counts]) =>
        Object.entries(counts).map(([to, n]) => [{ member, to }, n] as const),
      ),
  );
}

/** "N+2" -> 2, "N+0" -> 0, "N-1" -> -1. */
export function redundancyNumber(redundancy: string): number {
  const m = /^N([+-]\d+)$/.exec(redundancy);
  return m ? Number(m[1]) : Number.NaN;
}
