// The routing tables as the agent's HTTP API serves them, and as the SDK consumes them:
// GET /v1/routes, GET /v1/routes/:service (blocking queries with X-Vigil-Index) and the `route`
// events of GET /v1/events (SSE, ids = the same index).
import type { OutcomeCounts } from '../catalog/opinion.ts';
import type { FailoverPolicy, InstanceHealth } from '../catalog/service-record.ts';

export type EndpointState = 'active' | 'standby' | 'demoted';

export interface RouteEndpoint {
  readonly node: string;
  /** Service instance id, unique on its node. */
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly zone: string;
  /** Failover tier (priority); 0 is the primary. */
  readonly tier: number;
  readonly tags: readonly string[];
  readonly meta: Readonly<Record<string, string>>;
  readonly health: InstanceHealth;
  /**
   * active: takes traffic now, in proportion to `share`; standby: healthy, used when the active
   * set fails (next tier or other zone); demoted: on a confirmed-suspect node, a last resort.
   */
  readonly state: EndpointState;
  /** Fraction of the service's traffic this endpoint should get; active shares sum to 1. */
  readonly share: number;
}

export interface RouteTable {
  readonly service: string;
  readonly policy: FailoverPolicy;
  /** Envoy's panic mode: too few healthy instances, so traffic spreads over all that remain. */
  readonly panic: boolean;
  /** Healthy instances standing behind the active set, as "N+k"; "N+0" means one more failure hurts. */
  readonly redundancy: string;
  /** Active first (by share), then standby, then demoted. */
  readonly endpoints: readonly RouteEndpoint[];
  /** Policy `leader`: the elected leader's instance and its fencing token (absent: none known). */
  readonly leader?: RouteLeader | undefined;
  /** Per failover tier, sorted by tier (the agent always sends them; optional for older agents). */
  readonly tiers?: readonly RouteTier[];
}

export interface RouteLeader {
  readonly node: string;
  /** The leader's instance id. */
  readonly id: string;
  /** Fencing token: send it with every request (`Vigil-Fencing-Token`); it only rises. */
  readonly token: number;
  readonly term: number;
}

export interface RouteTier {
  readonly tier: number;
  /**
   * Instances that count toward the tier's health: routable ones plus instances on dead nodes
   * (capacity lost without an operator's say). Left nodes and maintenance are not counted.
   */
  readonly total: number;
  /** Passing or warning instances on alive or unconfirmed-suspect nodes. */
  readonly healthy: number;
  /** Fraction of traffic the tier receives. */
  readonly load: number;
  readonly panic: boolean;
  /**
   * While a failback to this tier is held down: until when (wall ms), after which the tier takes
   * (more of) its traffic back; null when none is. Read from the instances' records
   * (InstanceRecord.recoveredAt), so every agent shows the same moment.
   */
  readonly failbackAt: number | null;
}

/** GET /v1/routes */
export interface RoutesResponse {
  readonly index: number;
  readonly tables: readonly RouteTable[];
}

/** SSE `event: route` data. A removed service has no table. */
export interface RouteChange {
  readonly change: 'added' | 'changed' | 'removed';
  readonly service: string;
  readonly table?: RouteTable;
}

/** One observer host behind an outlier ejection: what it saw, and since when (its own clock). */
export interface DemotionObserver extends OutcomeCounts {
  readonly node: string;
  readonly state: 'failing' | 'ok' | 'idle';
  readonly since: number;
}

/**
 * Why an endpoint is demoted (GET /v1/routes/:service `demotions`): its node is a confirmed
 * suspect, or at least two independent observer hosts saw it failing (an outlier ejection).
 */
export interface Demotion {
  readonly node: string;
  readonly id: string;
  readonly reason: 'outlier' | 'confirmed-suspect';
  /** Outlier: when the ejection began and ends (wall ms), how many in a row, the flap penalty. */
  readonly since?: number;
  readonly until?: number;
  readonly ejections?: number;
  readonly penalty?: number;
  /** The flap penalty holds the endpoint out beyond its ejection time (RFC 2439 suppression). */
  readonly damped?: boolean;
  readonly observers?: readonly DemotionObserver[];
}
