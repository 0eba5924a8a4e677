// Order-independent helpers: everything routing prints is sorted with these, never by Map or
// object insertion order, and never with localeCompare (its order depends on the host's locale).

import { compareStrings } from '../base/compare.ts';

export { compareStrings };

/** JSON with object keys sorted at every level, so equal values give equal strings. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort(compareStrings)) {
    const v = (value as Record<string, unknown>)[key];
    if (v !== undefined) out[key] = sortKeys(v);
  }
  return out;
}

/**
 * Largest-remainder apportionment of `units` whole units in proportion to `exact` (any
 * non-negative numbers). The result sums to exactly `units` when any input is > 0 (else all 0);
 * ties in the remainder go to the earlier index, so the result depends only on the inputs' order.
 */
export function apportion(exact: readonly number[], units: number): number[] {
  const total = exact.reduce((s, x) => s + x, 0);
  if (!(total > 0)) return exact.map(() => 0);
  const scaled = exact.map((x) => (x / total) * units);
  const out = scaled.map((x) => Math.floor(x));
  let left = units - out.reduce((s, x) => s + x, 0);
  const order = scaled
    .map((x, i) => ({ i, rem: x - Math.floor(x) }))
    .filter((e) => (exact[e.i] ?? 0) > 0)
    .sort((a, b) => b.rem - a.rem || a.i - b.i);
  for (let k = 0; left > 0 && order.length > 0; k = (k + 1) % order.length, left--) {
    const idx = order[k]!.i;
    out[idx] = out[idx]! + 1;
  }
  return out;
}
