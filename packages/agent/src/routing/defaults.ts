/**
 * Routing defaults, each with its reason. Envoy's values are kept where Envoy has one, since the
 * priority and panic arithmetic is Envoy's (../shared/reference/failover-anchors.md §0.7, §3.1).
 */

import type { RoutingOptions } from './types.ts';

/**
 * Envoy's overprovisioning factor (1.4): a tier (or zone) is assumed to carry the full load with
 * 1/1.4 ≈ 71.4% of its instances healthy, so it sheds load to the next one only below that.
 */
export const DEFAULT_OVERPROVISIONING_FACTOR = 1.4;

/**
 * Envoy's panic threshold (50%): below it, health checks are more likely wrong than half the fleet
 * is down, so a tier spreads its load over every instance that is not removed outright instead of
 * crushing the few survivors. 0 disables panic.
 */
export const DEFAULT_PANIC_THRESHOLD = 0.5;

/**
 * Failback hold-down (30 s): a tier that recovers takes traffic back only after staying recovered
 * this long. 30 s is Envoy's base ejection time and the memberlist push/pull interval: a flapping
 * check with the usual 10 s interval must pass three times in a row, and one anti-entropy round
 * has run, before traffic returns. Failover away from a failing tier never waits.
 */
export const DEFAULT_FAILBACK_HOLD_DOWN_MS = 30_000;

export const ROUTING_DEFAULTS: RoutingOptions = {
  overprovisioningFactor: DEFAULT_OVERPROVISIONING_FACTOR,
  panicThreshold: DEFAULT_PANIC_THRESHOLD,
  failbackHoldDownMs: DEFAULT_FAILBACK_HOLD_DOWN_MS,
};

/**
 * Shares are whole millionths: a traffic fraction needs no finer grain, and integer units make the
 * printed numbers short (0.3, not 0.30000000000000004) and let a table's shares sum to exactly 1.
 * Tier health in the routing state uses the same unit.
 */
export const SHARE_UNITS = 1_000_000;
