import { describe, expect, it } from 'vitest';
import { runChaos } from '../../scripts/chaos/chaos.ts';

// One short seed of the chaos suite (scripts/chaos): 7 agents in network namespaces, 30 s of
// SIGKILL+restart, SIGSTOP/SIGCONT, link down/up, one-way drops (nftables) and a full data-dir
// tmpfs while registrations churn; every invariant must hold. Long seeds:
// `npm run chaos -w scripts -- --seed N --minutes M`. Needs root, iproute2, nftables and curl;
// without them it fails saying so, it never skips.

describe('chaos', () => {
  it('holds every invariant over one short seed', async () => {
    const lines: string[] = [];
    const report = await runChaos({ seed: 1, durationMs: 30_000, hosts: 7, log: (l) => lines.push(l) });
    const told = `${lines.join('\n')}\n${JSON.stringify(report)}`;
    const applied = Object.values(report.faults).reduce((s, x) => s + x, 0);
    expect(applied, told).toBeGreaterThanOrEqual(3);
    expect(report.faults.oneway, told).toBeGreaterThanOrEqual(1);
    expect(report.registrations.acked, told).toBeGreaterThan(5);
    expect(report.sdk.requests, told).toBeGreaterThan(20);
    expect(report.violations, told).toEqual([]);
  }, 240_000);
});
