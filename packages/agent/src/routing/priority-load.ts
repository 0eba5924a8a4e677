// Envoy's priority arithmetic (envoyproxy/envoy load_balancing/{priority,panic_threshold}.rst,
// ../shared/reference/failover-anchors.md §3.1), plus Vigil's failback hold-down. All health values
// are whole millionths (SHARE_UNITS = 100%).

import { SHARE_UNITS } from './defaults.ts';

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
  /** Per tier: until when a failback is held (the earliest end of its instances' holds), or null. */
  readonly heldUntil: (number | null)[];
}

/** A usable instance still inside its failback hold-down, and when that ends. */
export interface Recovering {
  readonly tier: number;
  readonly until: number;
}

/**
 * Failback hold-down, from shared state only. An instance whose record says it recovered (from
 * critical or maintenance: InstanceRecord.recoveredAt) less than the hold-down ago does not yet
 * count toward its tier's health, so traffic moves back to the tier only once the hold ends. The
 * timestamp travels in the record, so every agent, a restarted one included, holds the same
 * failback until the same moment; an instance never seen failed (a new registration, a new tier,
 * a new service) has no hold. A fall in health is never held.
 *
 * A held rise never leaves traffic stranded: if, with the held values, the tiers' total health is
 * below 100% (Envoy would squeeze the load onto degraded tiers, or panic), every hold is lifted at
 * once. So holding only ever keeps traffic on tiers that can carry it, and a tier that recovers
 * while the others are failing takes traffic at once (failover is never delayed).
 */
export function holdDown(
  tiers: readonly TierCounts[],
  raw: readonly number[],
  recovering: readonly Recovering[],
  factor: number,
): HoldResult {
  const effective: number[] = [];
  const heldUntil: (number | null)[] = [];
  tiers.forEach((t, i) => {
    const held = recovering.filter((r) => r.tier === t.tier);
    const health = tierHealth({ ...t, usable: t.usable - held.length }, factor);
    if (held.length === 0 || health >= raw[i]!) {
      effective.push(raw[i]!);
      heldUntil.push(null);
      return;
    }
    effective.push(health);
    heldUntil.push(Math.min(...held.map((r) => r.until)));
  });
  if (heldUntil.some((h) => h !== null) && effective.reduce((s, h) => s + h, 0) < SHARE_UNITS) {
    return { effective: [...raw], heldUntil: tiers.map(() => null) };
  }
  return { effective, heldUntil };
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
