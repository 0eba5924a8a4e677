// Example-based tests for each routing rule: eligibility, demotion, Envoy's proportional spill with
// the 1.4 overprovisioning factor, failback hold-down, zones, panic, redundancy and policy.

import type { RouteChange, RouteTable } from '@vigil/protocol';
import { describe, expect, it } from 'vitest';
import type { MemberView } from '../src/membership/swim-engine.ts';
import { computeRouting, diffTables, type MemberInput, type RoutingTable } from '../src/routing/index.ts';
import { inst, member, oneEach, rec, route, shares, states, table, tierLoads } from './routing-fixtures.ts';

const sum = (t: RoutingTable) => t.endpoints.reduce((s, e) => s + e.share, 0);

/** `n` instances of one tier, the first `healthy` of them passing and the rest critical. */
function tier(prefix: string, priority: number, n: number, healthy: number) {
  return Array.from({ length: n }, (_, i) =>
    inst(`${prefix}${i}`, { priority, health: i < healthy ? 'passing' : 'critical' }),
  );
}

describe('eligibility', () => {
  const all = oneEach(
    inst('ok1'),
    inst('ok2'),
    inst('ok3'),
    inst('dead'),
    inst('left'),
    inst('maint', { maintenance: true }),
    inst('crit', { health: 'critical' }),
    inst('gone'),
  );
  const result = route(all, {
    members: [
      ...['ok1', 'ok2', 'ok3', 'maint', 'crit'].map((n) => member(n)),
      member('dead', 'dead'),
      member('left', 'left'),
    ],
  });

  it('removes instances on dead, left and unknown nodes, in maintenance, and critical ones', () => {
    const t = table(result);
    expect(t.endpoints.map((e) => e.id)).toEqual(['ok1', 'ok2', 'ok3']);
    expect(t.endpoints.map((e) => e.state)).toEqual(['active', 'active', 'active']);
  });

  it('counts the dead node as lost capacity, but not the left node or the maintenance', () => {
    // total = 3 ok + dead + crit; left, unknown and maintenance instances are not counted.
    expect(table(result).tiers).toEqual([{ tier: 0, total: 5, healthy: 3, load: 1, panic: false, failbackAt: null }]);
  });

  it('spills load when a node dies, so the survivors of its tier are not crushed', () => {
    const records = oneEach(inst('p0'), inst('p1'), inst('b0', { priority: 1 }));
    expect(shares(table(route(records, { overrides: { p1: member('p1', 'dead') } })))).toEqual({ p0: 0.7, b0: 0.3 });
    // A graceful leave shrinks the tier instead.
    expect(shares(table(route(records, { overrides: { p1: member('p1', 'left') } })))).toEqual({ p0: 1 });
  });

  it('counts warning as healthy, and reports it', () => {
    const t = table(route(oneEach(inst('w', { health: 'warning' }), inst('p'))));
    expect(shares(t)).toEqual({ p: 0.5, w: 0.5 });
    expect(t.endpoints.find((e) => e.id === 'w')?.health).toBe('warning');
    expect(t.redundancy).toBe('N+1');
  });

  it('has a table with no endpoints while every instance is gone but one is still counted', () => {
    const t = table(route(oneEach(inst('x')), { overrides: { x: member('x', 'dead') } }));
    expect(t.endpoints).toEqual([]);
    expect(t.redundancy).toBe('N-1');
  });

  it('has no table for a service whose nodes all left', () => {
    expect(route(oneEach(inst('x')), { overrides: { x: member('x', 'left') } }).tables).toEqual([]);
  });
});

describe('demotion', () => {
  const records = oneEach(inst('x'), inst('y'), inst('z', { priority: 1 }));

  it('demotes the instances of a confirmed suspect at once: no traffic, not healthy, still counted', () => {
    const t = table(route(records, { overrides: { x: member('x', 'suspect', true) } }));
    expect(states(t)).toEqual({ y: 'active', z: 'active', x: 'demoted' });
    expect(shares(t)).toEqual({ y: 0.7, z: 0.3 });
    expect(t.redundancy).toBe('N+1');
    expect(t.endpoints.at(-1)?.id).toBe('x');
  });

  it('does not demote a suspect that only one observer reports', () => {
    const t = table(route(records, { overrides: { x: member('x', 'suspect', false) } }));
    expect(shares(t)).toEqual({ x: 0.5, y: 0.5 });
    expect(states(t)).toEqual({ x: 'active', y: 'active', z: 'standby' });
  });

  it('routes to demoted instances only as a last resort, with or without panic', () => {
    const suspects = { x: member('x', 'suspect', true), y: member('y', 'suspect', true), z: member('z', 'dead') };
    for (const panicThreshold of [0, 0.5]) {
      const t = table(route(records, { overrides: suspects, options: { panicThreshold } }));
      expect(shares(t)).toEqual({ x: 0.5, y: 0.5 });
      expect(states(t)).toEqual({ x: 'demoted', y: 'demoted' });
      expect(t.lastResort).toBe(true);
      expect(t.redundancy).toBe('N-1');
    }
  });
});

describe('active-passive (Envoy priority levels, overprovisioning factor 1.4)', () => {
  it('sends everything to the lowest healthy tier and keeps the next as standby', () => {
    const t = table(route(oneEach(...tier('p', 0, 2, 2), ...tier('b', 1, 2, 2))));
    expect(shares(t)).toEqual({ p0: 0.5, p1: 0.5 });
    expect(states(t)).toEqual({ p0: 'active', p1: 'active', b0: 'standby', b1: 'standby' });
    expect(tierLoads(t)).toEqual([1, 0]);
  });

  it('fails over completely when a tier has no healthy instance', () => {
    const t = table(route(oneEach(...tier('p', 0, 2, 0), ...tier('b', 1, 2, 2))));
    expect(shares(t)).toEqual({ b0: 0.5, b1: 0.5 });
    expect(t.endpoints.map((e) => e.id)).toEqual(['b0', 'b1']);
  });

  it.each([
    [10, 10, [1, 0]],
    [8, 10, [1, 0]], // 80% × 1.4 = 112%: still carries everything
    [5, 7, [1, 0]], // 71.4% × 1.4 = 100%: the edge
    [6, 10, [0.84, 0.16]],
    [5, 10, [0.7, 0.3]], // Envoy's example: P0 at 50% → 70/30
    [1, 10, [0.14, 0.86]],
  ])('spills proportionally: %i of %i healthy in tier 0', (healthy, n, loads) => {
    const t = table(route(oneEach(...tier('p', 0, n, healthy), ...tier('b', 1, 4, 4))));
    expect(tierLoads(t)).toEqual(loads);
    expect(t.panic).toBe(false);
    expect(sum(t)).toBeCloseTo(1, 9);
  });

  it('cascades the remainder through several tiers', () => {
    const t = table(route(oneEach(...tier('p', 0, 10, 5), ...tier('q', 1, 10, 1), ...tier('r', 2, 2, 2))));
    // 70% to P0, P1 can take 14%, the remaining 16% reaches P2.
    expect(tierLoads(t)).toEqual([0.7, 0.14, 0.16]);
  });

  it('normalises when the tiers together are below 100% (Envoy: P0 = P1 = 25% → 50/50)', () => {
    const records = oneEach(...tier('p', 0, 4, 1), ...tier('b', 1, 4, 1));
    const t = table(route(records, { options: { panicThreshold: 0 } }));
    expect(shares(t)).toEqual({ p0: 0.5, b0: 0.5 });
  });

  it('ignores priorities under active-active', () => {
    const t = table(
      route(oneEach(inst('x', { policy: 'active-active' }), inst('y', { policy: 'active-active', priority: 3 }))),
    );
    expect(t.policy).toBe('active-active');
    expect(shares(t)).toEqual({ x: 0.5, y: 0.5 });
    expect(t.endpoints.map((e) => e.tier)).toEqual([0, 0]);
  });
});

describe('failback hold-down', () => {
  const HOLD = 30_000;
  const failedP0 = oneEach(inst('p0', { health: 'critical' }), inst('b0', { priority: 1 }));
  /** p0 back to passing at `at` (its record says so), b0 standing by. */
  const recoveredP0 = (at: number) => oneEach(inst('p0', { recoveredAt: at }), inst('b0', { priority: 1 }));

  it('fails over at once and fails back only once the hold-down from the recovery has passed', () => {
    expect(shares(table(route(failedP0, { now: 1_000 })))).toEqual({ b0: 1 }); // failover: immediate
    const held = route(recoveredP0(10_000), { now: 10_000 });
    expect(shares(table(held))).toEqual({ b0: 1 }); // recovered, held
    expect(table(held).tiers[0]?.failbackAt).toBe(10_000 + HOLD);
    expect(held.nextEvaluationAt).toBe(10_000 + HOLD);
    expect(shares(table(route(recoveredP0(10_000), { now: 10_000 + HOLD - 1 })))).toEqual({ b0: 1 });
    const back = route(recoveredP0(10_000), { now: 10_000 + HOLD });
    expect(shares(table(back))).toEqual({ p0: 1 }); // failback
    expect(back.nextEvaluationAt).toBeNull();
    expect(table(back).tiers[0]?.failbackAt).toBeNull();
  });

  it('holds the failback for an agent (re)started during the hold: it is in the records, not in memory', () => {
    // Routing keeps no state across calls, so an agent that never saw p0 fail holds it as its
    // peers that watched it fail and recover do.
    const restarted = route(recoveredP0(10_000), { now: 12_000 });
    expect(shares(table(restarted))).toEqual({ b0: 1 });
  });

  it('does not hold a tier never seen failed: a new primary, a new tier, a new service', () => {
    // Before: a tier that first appeared (a new registration, or a node the agent just learned)
    // was held for 30 s on agents that had routed the service before, and not on the others.
    const before = route(oneEach(inst('b0', { priority: 1 })), { now: 0 });
    expect(shares(table(before))).toEqual({ b0: 1 });
    const withPrimary = route(oneEach(inst('p0'), inst('b0', { priority: 1 })), { now: 1_000 });
    expect(shares(table(withPrimary))).toEqual({ p0: 1 });
    expect(withPrimary.nextEvaluationAt).toBeNull();
  });

  it('restarts the hold-down when the tier fails again meanwhile (no flapping)', () => {
    // Recovered at 10 s, failed at 20 s, recovered again at 25 s: the record carries 25 s.
    expect(shares(table(route(recoveredP0(25_000), { now: 40_000 })))).toEqual({ b0: 1 });
    expect(shares(table(route(recoveredP0(25_000), { now: 25_000 + HOLD })))).toEqual({ p0: 1 });
  });

  it('holds a partial recovery too: the spill shrinks only after the hold-down', () => {
    const half = oneEach(...tier('p', 0, 2, 1), inst('b0', { priority: 1 }));
    const whole = oneEach(inst('p0'), inst('p1', { recoveredAt: 5_000 }), inst('b0', { priority: 1 }));
    expect(tierLoads(table(route(half, { now: 0 })))).toEqual([0.7, 0.3]);
    expect(tierLoads(table(route(whole, { now: 5_000 })))).toEqual([0.7, 0.3]);
    expect(tierLoads(table(route(whole, { now: 5_000 + HOLD })))).toEqual([1, 0]);
  });

  it('does not hold when the tiers behind cannot carry the load', () => {
    // Tier 1 is at 25%: holding tier 0 back would push everything into a panicking tier 1.
    const weakBackup = tier('b', 1, 4, 1);
    expect(table(route(oneEach(inst('p0', { health: 'critical' }), ...weakBackup), { now: 0 })).panic).toBe(true);
    const r2 = route(oneEach(inst('p0', { recoveredAt: 1_000 }), ...weakBackup), { now: 1_000 });
    expect(shares(table(r2))).toEqual({ p0: 1 });
  });

  it('applies none when it is configured to 0', () => {
    const r = route(recoveredP0(1), { now: 1, options: { failbackHoldDownMs: 0 } });
    expect(shares(table(r))).toEqual({ p0: 1 });
  });
});

describe('zones', () => {
  const zoned = (health: Partial<Record<string, 'passing' | 'critical'>> = {}) =>
    oneEach(
      inst('a1', { zone: 'a', health: health.a1 ?? 'passing' }),
      inst('a2', { zone: 'a', health: health.a2 ?? 'passing' }),
      inst('b1', { zone: 'b' }),
      inst('b2', { zone: 'b' }),
    );

  it('prefers the local zone within the tier', () => {
    const t = table(route(zoned(), { localZone: 'a' }));
    expect(shares(t)).toEqual({ a1: 0.5, a2: 0.5 });
    expect(states(t)).toEqual({ a1: 'active', a2: 'active', b1: 'standby', b2: 'standby' });
    expect(shares(table(route(zoned(), { localZone: 'b' })))).toEqual({ b1: 0.5, b2: 0.5 });
  });

  it('spills from a degraded local zone with the same 1.4 factor, so a lone survivor is not crushed', () => {
    expect(shares(table(route(zoned({ a1: 'critical' }))))).toEqual({ a2: 0.7, b1: 0.15, b2: 0.15 });
  });

  it('uses the other zones when the local zone has nothing healthy', () => {
    expect(shares(table(route(zoned({ a1: 'critical', a2: 'critical' }))))).toEqual({ b1: 0.5, b2: 0.5 });
  });

  it('spreads over every zone when none is local', () => {
    expect(shares(table(route(zoned(), { localZone: 'z' })))).toEqual({ a1: 0.25, a2: 0.25, b1: 0.25, b2: 0.25 });
  });

  it('lists the local zone first among standbys', () => {
    const records = oneEach(
      inst('p0', { zone: 'b' }),
      inst('s1', { zone: 'b', priority: 1 }),
      inst('s2', { zone: 'a', priority: 1 }),
    );
    expect(table(route(records, { localZone: 'a' })).endpoints.map((e) => e.id)).toEqual(['p0', 's2', 's1']);
  });
});

describe('panic threshold', () => {
  const aa = (id: string, o = {}) => inst(id, { policy: 'active-active', ...o });

  it('spreads over every instance not removed outright when fewer than 50% are healthy', () => {
    const records = oneEach(
      aa('h'),
      aa('c1', { health: 'critical' }),
      aa('c2', { health: 'critical' }),
      aa('c3', { health: 'critical' }),
      aa('m', { maintenance: true }),
      aa('d'),
    );
    const t = table(route(records, { overrides: { d: member('d', 'dead') } }));
    expect(t.panic).toBe(true);
    expect(shares(t)).toEqual({ h: 0.25, c1: 0.25, c2: 0.25, c3: 0.25 });
    expect(t.endpoints.map((e) => e.state)).toEqual(['active', 'active', 'active', 'active']);
    expect(t.redundancy).toBe('N+0');
  });

  it('does not panic at exactly the threshold', () => {
    const t = table(
      route(oneEach(aa('h1'), aa('h2'), aa('c1', { health: 'critical' }), aa('c2', { health: 'critical' }))),
    );
    expect(t.panic).toBe(false);
    expect(shares(t)).toEqual({ h1: 0.5, h2: 0.5 });
  });

  it('is ignored while the other tiers can carry the load', () => {
    const t = table(route(oneEach(...tier('p', 0, 4, 1), ...tier('b', 1, 2, 2))));
    expect(t.panic).toBe(false);
    expect(shares(t)).toEqual({ p0: 0.35, b0: 0.325, b1: 0.325 });
  });

  it('splits by instance count when every tier panics (Envoy total panic)', () => {
    const t = table(route(oneEach(...tier('p', 0, 4, 1), ...tier('b', 1, 4, 1))));
    expect(t.panic).toBe(true);
    expect(tierLoads(t)).toEqual([0.5, 0.5]);
    expect(Object.keys(shares(t))).toHaveLength(8);
  });

  it('never routes to dead, left or maintenance instances, even in panic', () => {
    const records = oneEach(aa('c', { health: 'critical' }), aa('m', { maintenance: true }), aa('d'), aa('l'));
    const t = table(route(records, { overrides: { d: member('d', 'dead'), l: member('l', 'left') } }));
    expect(shares(t)).toEqual({ c: 1 });
  });

  it('can be disabled with 0: nothing healthy means no endpoints', () => {
    const t = table(
      route(oneEach(aa('c1', { health: 'critical' }), aa('c2', { health: 'critical' })), {
        options: { panicThreshold: 0 },
      }),
    );
    expect(t.endpoints).toEqual([]);
    expect(t.panic).toBe(false);
  });
});

describe('weights, redundancy and policy', () => {
  it('weights active-active traffic', () => {
    const t = table(
      route(
        oneEach(inst('x', { policy: 'active-active', weight: 1 }), inst('y', { policy: 'active-active', weight: 3 })),
      ),
    );
    expect(shares(t)).toEqual({ x: 0.25, y: 0.75 });
    expect(t.endpoints.map((e) => [e.id, e.weight])).toEqual([
      ['y', 3],
      ['x', 1],
    ]);
  });

  it('rounds shares to millionths that sum to exactly 1', () => {
    const t = table(route(oneEach(inst('x'), inst('y'), inst('z'))));
    expect(t.endpoints.map((e) => e.share)).toEqual([0.333334, 0.333333, 0.333333]);
    expect(sum(t)).toBeCloseTo(1, 12);
  });

  it.each([
    [[inst('a')], 'N+0'],
    [[inst('a'), inst('b')], 'N+1'],
    [[inst('a'), inst('b', { priority: 1 }), inst('c', { priority: 2, zone: 'z' })], 'N+2'],
    [[inst('a'), inst('b', { health: 'critical' })], 'N+0'],
    [[inst('a', { health: 'critical' })], 'N-1'],
  ])('reports redundancy %#', (instances, label) => {
    expect(table(route(oneEach(...instances))).redundancy).toBe(label);
  });

  it('picks the most common declared policy, a tie going to active-passive', () => {
    const aa = { policy: 'active-active' } as const;
    expect(table(route(oneEach(inst('x', aa), inst('y', aa), inst('z')))).policy).toBe('active-active');
    expect(table(route(oneEach(inst('x', aa), inst('y')))).policy).toBe('active-passive');
    expect(table(route(oneEach(inst('a'), inst('b', aa), inst('c', aa)))).policy).toBe('active-active');
    expect(table(route(oneEach(inst('x')))).policy).toBe('active-passive');
  });

  it('keeps services apart and sorts them by name', () => {
    const records = [
      rec('n', [inst('w', { service: 'web' }), inst('d', { service: 'db' }), inst('a', { service: 'api' })]),
    ];
    expect(route(records).tables.map((t) => t.service)).toEqual(['api', 'db', 'web']);
  });

  it('uses the newest record per node and ignores a duplicate instance id', () => {
    const old = rec('n', [inst('x', { port: 1 })], { seq: 1 });
    const neu = rec('n', [inst('x', { port: 2 }), inst('x', { port: 3 })], { seq: 2 });
    expect(table(route([neu, old], { members: [member('n')] })).endpoints.map((e) => e.port)).toEqual([2]);
  });
});

describe('determinism', () => {
  it('gives byte-identical JSON whatever the order of records and members', () => {
    const records = [
      rec('n1', [inst('a', { zone: 'b' }), inst('b', { service: 'db', priority: 1 })]),
      rec('n2', [inst('c', { health: 'warning' }), inst('d', { service: 'db' })]),
      rec('n3', [inst('e', { priority: 2, weight: 7 })]),
    ];
    const view = [member('n1'), member('n2', 'suspect', true), member('n3', 'suspect')];
    const a = computeRouting({ records, members: view, localZone: 'a', now: 5 });
    const b = computeRouting({
      records: [...records].reverse().concat(records),
      members: [...view].reverse(),
      localZone: 'a',
      now: 5,
    });
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });

  it("takes the SWIM engine's MemberView as its membership input, unchanged", () => {
    const views: MemberView[] = [];
    const input: readonly MemberInput[] = views; // a type check: compiles only while they fit
    expect(computeRouting({ records: [], members: input, localZone: 'a', now: 0 }).tables).toEqual([]);
  });

  it("serves as the API's RouteTable and RouteChange (@vigil/protocol), tags and meta included", () => {
    const records = [rec('n', [inst('x', { tags: ['b', 'a'], meta: { z: '1', a: '2' } })])];
    const tables: readonly RouteTable[] = route(records).tables; // type checks: compile only while they fit
    const changes: readonly RouteChange[] = diffTables([], route(records).tables);
    expect(changes).toHaveLength(1);
    const e = tables[0]!.endpoints[0]!;
    expect(e.tags).toEqual(['b', 'a']);
    expect(JSON.stringify(e.meta)).toBe('{"a":"2","z":"1"}');
  });

  it('rejects nonsensical options', () => {
    const input = { records: [], members: [], localZone: 'a', now: 0 };
    expect(() => computeRouting({ ...input, options: { panicThreshold: 2 } })).toThrow(RangeError);
    expect(() => computeRouting({ ...input, options: { overprovisioningFactor: 0.5 } })).toThrow(RangeError);
    expect(() => computeRouting({ ...input, options: { failbackHoldDownMs: -1 } })).toThrow(RangeError);
  });
});

describe('change events', () => {
  const at = (records: ReturnType<typeof oneEach>) => route(records).tables;
  const base = at([rec('n', [inst('w'), inst('d', { service: 'db' })])]);

  it('emits nothing for equal table sets', () => {
    expect(diffTables(base, at([rec('n', [inst('w'), inst('d', { service: 'db' })])]))).toEqual([]);
  });

  it('emits added, changed and removed services in name order', () => {
    const next = at([rec('n', [inst('w', { health: 'warning' }), inst('c', { service: 'cache' })])]);
    expect(diffTables(base, next).map((c) => [c.change, c.service, c.table?.service ?? null])).toEqual([
      ['added', 'cache', 'cache'],
      ['removed', 'db', null],
      ['changed', 'web', 'web'],
    ]);
  });

  it('sees a change inside a table (a share moving)', () => {
    const records = oneEach(inst('x'), inst('y', { priority: 1 }));
    const before = route(records).tables;
    const after = route(records, { overrides: { x: member('x', 'suspect', true) } }).tables;
    expect(diffTables(before, after).map((c) => c.change)).toEqual(['changed']);
  });

  it('is independent of the table order', () => {
    expect(diffTables([...base].reverse(), base)).toEqual([]);
  });
});
