// The routing plane's inputs and outputs. Everything here is plain data: JSON-serialisable, with
// arrays sorted by a documented key, so equal inputs give byte-identical JSON.

import type { NodeRecord, RouteEndpoint, RouteTable, RouteTier } from '@vigil/protocol';

import type { MemberStatus } from '../base/member-status.ts';

export type { MemberStatus };

/**
 * What routing needs from the membership view, per node. MemberView from the SWIM engine fits.
 * `confirmedSuspect` means suspect with at least two independent observers.
 */
export interface MemberInput {
  readonly name: string;
  readonly status: MemberStatus;
  readonly confirmedSuspect: boolean;
}

export interface RoutingOptions {
  /** Fraction 0..1 of healthy instances below which a tier panics; 0 disables panic. */
  readonly panicThreshold: number;
  /** Envoy's overprovisioning factor, >= 1. */
  readonly overprovisioningFactor: number;
  /** How long a recovered tier must stay recovered before traffic moves back to it, ms >= 0. */
  readonly failbackHoldDownMs: number;
}

export interface RoutingInput {
  /** The catalog: node records in any order, duplicates allowed (the newest per node is used). */
  readonly records: readonly NodeRecord[];
  /** The membership view. Names should be unique; if one is not, its most severe entry counts. */
  readonly members: readonly MemberInput[];
  /** This agent's zone: instances in it are preferred within a tier. */
  readonly localZone: string;
  /** Wall-clock ms; only the failback hold-down reads it. */
  readonly now: number;
  readonly options?: Partial<RoutingOptions>;
  /**
   * Instances the mesh-wide outlier verdict ejected (src/outlier): demoted as a confirmed suspect's
   * are, routed only as a last resort or in panic.
   */
  readonly ejected?: readonly { readonly node: string; readonly id: string }[];
  /**
   * Only these services' tables are computed (the others are left out of the result): a caller
   * that knows only some services' inputs changed (an ejection) recomputes just those.
   */
  readonly services?: ReadonlySet<string>;
}

// active: share > 0. standby: healthy, no traffic now (a backup tier, or another zone while the
// local one copes). demoted: on a confirmed-suspect node, used only as a last resort or in panic.
export type { EndpointState } from '@vigil/protocol';

/**
 * The API's RouteEndpoint (@vigil/protocol), plus the weight. `tier` is the instance's priority
 * under active-passive and always 0 under active-active; `share` is the fraction of this agent's
 * traffic, in whole millionths; `health` is the instance's own check health.
 */
export interface Endpoint extends RouteEndpoint {
  /** The instance's declared weight (1 when the record holds an unusable value). */
  readonly weight: number;
}

/** One failover tier's summary: the API's RouteTier (@vigil/protocol). */
export type TierSummary = RouteTier;

/**
 * The API's RouteTable (@vigil/protocol), plus per-tier detail and the last-resort flag.
 *
 * `redundancy` is "N+k": N is the active set, k how many healthy instances stand behind it, i.e.
 * how many further instance failures the service survives with at least one healthy instance left
 * to route to: k = healthy − 1, counting every healthy instance of any tier and zone (standbys take
 * over as the active set fails; active-active peers absorb each other's share). So "N+0" is exactly
 * one healthy instance (one more failure leaves nothing healthy: an outage, or traffic on demoted
 * or critical instances through last resort or panic), and "N-1" means nothing is healthy already.
 * Demoted and critical instances are not counted.
 *
 * `panic`: some tier carrying traffic is in panic mode.
 * `endpoints`: endpoints with traffic first (by share, largest first), then standbys, then demoted
 * ones; ties by tier, local zone first, zone, node, id. Shares sum to 1 when any is > 0.
 */
export interface RoutingTable extends RouteTable {
  /** Nothing healthy remains, so demoted instances stand in for healthy ones. */
  readonly lastResort: boolean;
  /** Sorted by tier: one entry per tier with counted instances. */
  readonly tiers: readonly TierSummary[];
  readonly endpoints: readonly Endpoint[];
}

export interface RoutingResult {
  /** Sorted by service name. */
  readonly tables: readonly RoutingTable[];
  /** When a held-down failback becomes due: call again then even if nothing else changed. */
  readonly nextEvaluationAt: number | null;
}

/**
 * A route change event, as the API's RouteChange (@vigil/protocol) carries it: `added`, `changed`
 * (with the new table) or `removed` (without one).
 */
export interface RoutingChange {
  readonly change: 'added' | 'changed' | 'removed';
  readonly service: string;
  readonly table?: RoutingTable;
}
