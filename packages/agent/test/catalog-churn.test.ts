// The catalog forgets reaped nodes: 20,000 hosts that come and go under new names pass through one
// agent's catalog (real CatalogNode and Mesh, in-memory transport, virtual time). Before the fix
// the store kept every name and refused new nodes as `full` after maxNodes (4,096) of them.
// Heap figures for the same run: `npm run sim:catalog-churn -w scripts`.

import { describe, expect, it } from 'vitest';
import { runCatalogChurn } from '../src/sim/catalog-churn.ts';

describe('catalog churn', () => {
  it('keeps the store bounded by the hosts membership knows over 20,000 distinct names', async () => {
    const window = 8;
    const sizes: number[] = [];
    const result = await runCatalogChurn({
      seed: 14,
      hosts: 20_000,
      window,
      progress: { every: 1_000, report: (_done, r) => sizes.push(r.storeNow) },
    });
    expect(result.accepted).toBe(20_000);
    expect(result.lastHeld).toBe(true);
    // The live window, plus the observer's own record.
    expect(result.maxStore).toBeLessThanOrEqual(window + 1);
    expect(sizes).toHaveLength(20);
    expect(sizes.every((s) => s === window + 1)).toBe(true);
  }, 300_000);
});
