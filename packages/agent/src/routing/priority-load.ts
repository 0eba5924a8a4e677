// Envoy's priority arithmetic (envoyproxy/envoy load_balancing/{priority,panic_threshold}.rst,
// ../shared/reference/failover-anchors.md §3.1), plus Vigil's failback hold-down. All health values
// are whole millionths (SHARE_UNITS = 100%).

import { SHARE_UNITS } from './defaults.ts';
import type { ServiceRoutingState, TierHoldState } from './types.ts';

export interface TierCounts {
  readonly tier: number;
  /** Instances counted toward the tier's health (routable + lost to dead nodes). */
  readonly total: number;
  /** Instances that play the healthy role (healthy ones, or demoted ones in last resort). */
  readonly usable: number;
  /** Instances traffic may reach at all (healthy, demoted, critical). */
  readonly routable: number;
}

/** health = min(100%, factor × usable/total), in millionths; 0 for an empty tier. */
export function tierHealth(t: TierCounts, factor: number): number {
  if (t.total <= 0) return 0;
  return Math.round(Math.min(1, (factor * t.usable) / t.total) * SHARE_UNITS);
}

export interface HoldResult {
  /** The health each tier is routed on (index-aligned with the input). */
  readonly effective: number[];
  readonly state: TierHoldState[];
}

/**
 * Failback hold-down. A tier's health falls at once; a rise takes effect only once the tier has
 * stayed above its effective health for `holdDownMs` (measured from the first evaluation that saw
 * the rise; a fall back to or below the effective health restarts it). Without previous state for
 * the service (first evaluation, or a new service) the raw health is used as is; a tier the
 * service's previous state lacks had no counted instances, so it is rising from 0.
 *
 * A held rise never leaves traffic stranded: if, with the held values, the tiers' total health is
 * below 100% (Envoy would squeeze the load onto degraded tiers, or panic), every pending rise takes
 * effect at once. So holding only ever keeps traffic on tiers that can carry it, and a tier that
 * recovers while the others are failing takes traffic at once (failover is never delayed).
 */
export function holdDown(
  tiers: readonly TierCounts[],
  raw: readonly number[],
  previous: ServiceRoutingState | undefined,
  now: number,
  holdDownMs: number,
): HoldResult {
  const prev = new Map((previous?.tiers ?? []).map((t) => [t.tier, t]));
  const effective: number[] = [];
  const since: (number | null)[] = [];
  tiers.forEach((t, i) => {
    const r = raw[i]!;
    const p = prev.get(t.tier);
    const prevHealth = previous === undefined ? r : (p?.health ?? 0);
    if (r <= prevHealth) {
      effective.push(r);
      since.push(null);
      return;
    }
    const start = p?.risingSince ?? now;
    if (now - start >= holdDownMs) {
      effective.push(r);
      since.push(null);
    } else {
      effective.push(prevHealth);
      since.push(start);
    }
  });
  const pending = since.some((s) => s !== null);
  if (pending && effective.reduce((s, h) => s + h, 0) < SHARE_UNITS) {
    tiers.forEach((_, i) => {
      effective[i] = raw[i]!;
      since[i] = null;
    });
  }
  return {
    effective,
    state: tiers.map((t, i) => ({ tier: t.tier, health: effective[i]!, risingSince: since[i]! })),
  };
}

export interface PriorityLoads {
  /** Fraction of traffic per tier (index-aligned); sums to 1 unless nothing can take traffic. */
  readonly loads: number[];
  /** Per tier: spread over every routable instance instead of the usable ones. */
  readonly panic: boolean[];
}

/**
 * Envoy: normalized_total = min(100, Σ health); each tier in order takes min(remaining,
 * health × 100 / normalized_total). Panic applies only while normalized_total < 100 (the tiers
 * together cannot carry the load): a tier panics when its usable fraction is below the threshold.
 * If every tier panics, the load is split by routable instance count.
 */
export function priorityLoads(
  tiers: readonly TierCounts[],
  effective: readonly number[],
  panicThreshold: number,
): PriorityLoads {
  const normalizedTotal = Math.min(
    SHARE_UNITS,
    effective.reduce((s, h) => s + h, 0),
  );
  const loads = tiers.map(() => 0);
  if (normalizedTotal > 0) {
    let remaining = 1;
    tiers.forEach((_, i) => {
      const load = Math.min(remaining, effective[i]! / normalizedTotal);
      loads[i] = load;
      remaining = Math.max(0, remaining - load);
    });
  }
  const degraded = normalizedTotal < SHARE_UNITS;
  const panic = tiers.map((t) => degraded && panicThreshold > 0 && t.usable < panicThreshold * t.total);
  if (tiers.length > 0 && panic.every(Boolean)) {
    const routable = tiers.reduce((s, t) => s + t.routable, 0);
    tiers.forEach((t, i) => {
      loads[i] = routable > 0 ? t.routable / routable : 0;
    });
  }
  return { loads, panic };
}
