// The routing plane's inputs and outputs. Everything here is plain data: JSON-serialisable, with
// arrays sorted by a documented key, so equal inputs give byte-identical JSON.

import type { FailoverPolicy, InstanceHealth, NodeRecord } from '@vigil/protocol';

/** Membership status as the SWIM engine reports it (structurally equal to its MemberStatus). */
export type MemberStatus = 'alive' | 'suspect' | 'dead' | 'left';

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
  /** The state the previous call returned; absent on the first call (no hold-down is applied). */
  readonly previous?: RoutingState | null;
  readonly options?: Partial<RoutingOptions>;
}

/**
 * - `active`: receives traffic (share > 0).
 * - `standby`: healthy, receives nothing now (a backup tier, or another zone while the local one
 *   copes); takes traffic as the active set fails.
 * - `demoted`: on a confirmed-suspect node: used only as a last resort or in panic.
 */
export type EndpointState = 'active' | 'standby' | 'demoted';

export interface Endpoint {
  readonly node: string;
  /** Instance id, unique on its node. */
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly zone: string;
  /** Failover tier: the instance's priority under active-passive, always 0 under active-active. */
  readonly tier: number;
  /** The instance's declared weight (1 when the record holds an unusable value). */
  readonly weight: number;
  /** Fraction of this agent's traffic for the service, in whole millionths. */
  readonly share: number;
  readonly state: EndpointState;
  /** The instance's own check health. */
  readonly health: InstanceHealth;
}

export interface TierSummary {
  readonly tier: number;
  /**
   * Instances that count toward the tier's health: routable ones plus instances on dead nodes
   * (capacity lost without an operator's say). Left nodes and maintenance are not counted.
   */
  readonly total: number;
  /** Passing or warning instances on alive or unconfirmed-suspect nodes. */
  readonly healthy: number;
  /** Fraction of traffic the tier receives (sum of its endpoints' shares). */
  readonly load: number;
  /** The tier spreads its load over every routable instance (Envoy panic mode). */
  readonly panic: boolean;
  /** A recovery of this tier is being held down until then (ms); null when none is pending. */
  readonly failbackAt: number | null;
}

/**
 * Redundancy "N+k". N is the active set; k is how many healthy instances stand behind it: the
 * number of further instance failures the service survives with at least one healthy instance left
 * to route to. k = healthy − 1, counting every healthy instance of any tier and zone (standbys take
 * over as the active set fails; active-active peers absorb each other's share). So:
 * - "N+0": exactly one healthy instance: one more failure leaves nothing healthy (an outage, or
 *   traffic on demoted or critical instances through last resort or panic);
 * - "N-1": no healthy instance at all: already in that state.
 * Demoted and critical instances are not counted.
 */
export interface Redundancy {
  readonly healthy: number;
  /** k: healthy − 1, so −1 when nothing is healthy. */
  readonly spare: number;
  /** "N+k" (or "N-1"). */
  readonly label: string;
}

export interface RoutingTable {
  readonly service: string;
  readonly policy: FailoverPolicy;
  readonly redundancy: Redundancy;
  /** Some tier carrying traffic is in panic mode. */
  readonly panic: boolean;
  /** Nothing healthy remains, so demoted instances stand in for healthy ones. */
  readonly lastResort: boolean;
  /** Sorted by tier. */
  readonly tiers: readonly TierSummary[];
  /**
   * In preference order: endpoints with traffic first, then standbys, then demoted ones; within
   * each group by tier, local zone first, zone, node, id. Shares sum to 1 when any is > 0.
   */
  readonly endpoints: readonly Endpoint[];
}

/** Per tier: the health (millionths) routing acts on, and since when a higher value is pending. */
export interface TierHoldState {
  readonly tier: number;
  readonly health: number;
  /** First evaluation at which the tier's health was above `health`, while it has stayed above. */
  readonly risingSince: number | null;
}

export interface ServiceRoutingState {
  readonly service: string;
  /** Sorted by tier; only tiers that have counted instances. */
  readonly tiers: readonly TierHoldState[];
}

/** What computeRouting needs from its previous call: explicit data, sorted by service. */
export interface RoutingState {
  readonly services: readonly ServiceRoutingState[];
}

export interface RoutingResult {
  /** Sorted by service name. */
  readonly tables: readonly RoutingTable[];
  /** Pass back as `previous` on the next call. */
  readonly state: RoutingState;
  /** When a held-down failback becomes due: call again then even if nothing else changed. */
  readonly nextEvaluationAt: number | null;
}

export type RouteChangeType = 'service-added' | 'service-changed' | 'service-removed';

export interface RouteChange {
  readonly type: RouteChangeType;
  readonly service: string;
  /** The new table; null when the service was removed. */
  readonly table: RoutingTable | null;
}
