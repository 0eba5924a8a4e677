// Property tests of the routing plane as the issue states them: random sequences of registrations,
// health flips, maintenance, crashes, restarts and membership changes, published as node records
// that reach several simulated agents with losses, duplicates and reordering. Each agent folds what
// it receives into its catalog (applyRecord) and recomputes its tables (computeRouting) after every
// delivery.
//
// - At every step, on every agent: no endpoint on a dead, left or unknown node or in maintenance;
//   critical instances only in panic; shares are whole millionths that sum to 1 when the table has
//   endpoints; endpoints are unique; redundancy counts the healthy instances.
// - Once the same records are delivered (anti-entropy) and membership agrees: all agents hold equal
//   catalogs; computed afresh their results are byte-identical; computed with their own histories
//   they are byte-identical once the failback hold-down has run out, and equal to the fresh result.

import type { InstanceHealth, InstanceRecord, NodeRecord } from '@vigil/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyRecord,
  type Catalog,
  computeRouting,
  type MemberInput,
  mergeCatalogs,
  type RoutingOptions,
  type RoutingResult,
  type RoutingTable,
} from '../src/routing/index.ts';

const NODES = ['n0', 'n1', 'n2', 'n3', 'n4'];
const SERVICES = ['api', 'web'];
const ZONES = ['a', 'b'];
type Condition = 'alive' | 'suspect' | 'confirmed' | 'dead' | 'left';

type Op =
  | {
      kind: 'register';
      node: number;
      service: number;
      slot: number;
      priority: number;
      weight: number;
      zone: number;
      activeActive: boolean;
    }
  | { kind: 'deregister'; node: number; service: number; slot: number }
  | { kind: 'health'; node: number; service: number; slot: number; health: InstanceHealth }
  | { kind: 'maintenance'; node: number; service: number; slot: number; on: boolean }
  | { kind: 'member'; node: number; condition: Condition }
  | { kind: 'restart'; node: number };

const node = fc.integer({ min: 0, max: NODES.length - 1 });
const service = fc.integer({ min: 0, max: SERVICES.length - 1 });
const slot = fc.integer({ min: 0, max: 2 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('register' as const),
      node,
      service,
      slot,
      priority: fc.integer({ min: 0, max: 2 }),
      weight: fc.integer({ min: 1, max: 3 }),
      zone: fc.integer({ min: 0, max: ZONES.length - 1 }),
      activeActive: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deregister' as const), node, service, slot }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('health' as const),
      node,
      service,
      slot,
      health: fc.constantFrom<InstanceHealth>('passing', 'warning', 'critical'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('maintenance' as const), node, service, slot, on: fc.boolean() }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('member' as const),
      node,
      condition: fc.constantFrom<Condition>('alive', 'suspect', 'confirmed', 'dead', 'left'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), node }) },
);

const registerArb = opArb.filter((o) => o.kind === 'register');
/** A few registrations first, so that services have several tiers and zones to fail over between. */
const historyArb = fc
  .tuple(fc.array(registerArb, { minLength: 4, maxLength: 12 }), fc.array(opArb, { maxLength: 40 }))
  .map(([boot, rest]) => [...boot, ...rest]);

const optionsArb: fc.Arbitrary<Partial<RoutingOptions>> = fc.record(
  {
    panicThreshold: fc.constantFrom(0, 0.3, 0.5, 1),
    overprovisioningFactor: fc.constantFrom(1, 1.4, 2),
    failbackHoldDownMs: fc.constantFrom(0, 1_000, 30_000),
  },
  { requiredKeys: [] },
);

interface Truth {
  readonly records: NodeRecord[]; // every record ever published, in publish order
  readonly views: MemberInput[][]; // the membership view after each op
}

const toMember = (name: string, c: Condition): MemberInput => ({
  name,
  status: c === 'confirmed' ? 'suspect' : c,
  confirmedSuspect: c === 'confirmed',
});

/** Plays the ops on a ground-truth cluster: each node authors its own records. */
function play(ops: readonly Op[]): Truth {
  const nodes = NODES.map((name, i) => ({
    name,
    epoch: 1_000 * (i + 1),
    seq: 0,
    condition: 'alive' as Condition,
    instances: new Map<string, InstanceRecord>(),
  }));
  const records: NodeRecord[] = [];
  const views: MemberInput[][] = [];
  const publish = (n: (typeof nodes)[number]) => {
    n.seq++;
    const instances = [...n.instances.keys()].sort().map((k) => n.instances.get(k)!);
    records.push({ node: n.name, peerId: `peer-${n.name}`, epoch: n.epoch, seq: n.seq, instances });
  };
  for (const n of nodes) publish(n);
  for (const op of ops) {
    const n = nodes[op.node]!;
    const key = 'service' in op ? `${SERVICES[op.service]}/${op.slot}` : '';
    const held = n.instances.get(key);
    switch (op.kind) {
      case 'register':
        n.instances.set(key, {
          id: `${SERVICES[op.service]}-${op.slot}`,
          service: SERVICES[op.service]!,
          address: `10.0.${op.node}.${op.slot}`,
          port: 8000 + op.slot,
          tags: [],
          meta: {},
          weight: op.weight,
          priority: op.priority,
          zone: ZONES[op.zone]!,
          policy: op.activeActive ? 'active-active' : 'active-passive',
          health: held?.health ?? 'passing',
          maintenance: held?.maintenance ?? false,
        });
        publish(n);
        break;
      case 'deregister':
        if (held) {
          n.instances.delete(key);
          publish(n);
        }
        break;
      case 'health':
        if (held) {
          n.instances.set(key, { ...held, health: op.health });
          publish(n);
        }
        break;
      case 'maintenance':
        if (held) {
          n.instances.set(key, { ...held, maintenance: op.on });
          publish(n);
        }
        break;
      case 'member':
        n.condition = op.condition;
        break;
      case 'restart':
        // A new life: a newer epoch, its checks starting critical (Consul's default), alive again.
        n.epoch += 1;
        n.seq = 0;
        for (const [k, i] of n.instances) n.instances.set(k, { ...i, health: 'critical' });
        n.condition = 'alive';
        publish(n);
        break;
    }
    views.push(nodes.map((x) => toMember(x.name, x.condition)));
  }
  if (views.length === 0) views.push(nodes.map((x) => toMember(x.name, x.condition)));
  return { records, views };
}

/** The invariants every table must hold, whatever the history. */
function checkTables(result: RoutingResult, catalog: Catalog, view: readonly MemberInput[]): void {
  const status = new Map(view.map((m) => [m.name, m]));
  const instances = new Map<string, InstanceRecord>();
  for (const r of mergeCatalogs(catalog)) for (const i of r.instances) instances.set(`${r.node}/${i.id}`, i);
  const instance = (node: string, id: string) => instances.get(`${node}/${id}`);
  expect(result.tables.map((t) => t.service)).toEqual([...result.tables.map((t) => t.service)].sort());
  for (const t of result.tables) {
    const seen = new Set<string>();
    let healthy = 0;
    for (const e of t.endpoints) {
      const m = status.get(e.node);
      expect(m, `endpoint on unknown node ${e.node}`).toBeDefined();
      expect(['dead', 'left']).not.toContain(m!.status);
      const i = instance(e.node, e.id);
      expect(i?.maintenance).toBe(false);
      expect(i?.health).toBe(e.health);
      if (e.health === 'critical') expect(t.panic).toBe(true);
      expect(e.state === 'demoted').toBe(m!.status === 'suspect' && m!.confirmedSuspect);
      if (e.state === 'standby') expect(e.share).toBe(0);
      if (e.state === 'active') expect(e.share).toBeGreaterThan(0);
      if (e.state !== 'demoted' && e.health !== 'critical') healthy++;
      expect(Number.isInteger(Math.round(e.share * 1e6))).toBe(true);
      expect(Math.abs(e.share * 1e6 - Math.round(e.share * 1e6))).toBeLessThan(1e-6);
      const key = `${e.node}/${e.id}`;
      expect(seen.has(key)).toBe(false);
      seen.add(key);
    }
    // Traffic first, largest share first; then standbys; then demoted ones.
    const rank = (e: (typeof t.endpoints)[number]) => (e.share > 0 ? 0 : e.state === 'standby' ? 1 : 2);
    t.endpoints.forEach((e, i) => {
      const prev = t.endpoints[i - 1];
      if (prev === undefined) return;
      expect(rank(prev)).toBeLessThanOrEqual(rank(e));
      if (rank(prev) === 0 && rank(e) === 0) expect(prev.share).toBeGreaterThanOrEqual(e.share);
    });
    expect(t.redundancy).toBe(healthy === 0 ? 'N-1' : `N+${healthy - 1}`);
    if (t.endpoints.length > 0) {
      expect(Math.abs(t.endpoints.reduce((s, e) => s + e.share, 0) - 1)).toBeLessThanOrEqual(1e-9);
      expect(Math.abs(t.tiers.reduce((s, x) => s + x.load, 0) - 1)).toBeLessThanOrEqual(1e-9);
    }
  }
}

interface Agent {
  catalog: Catalog;
  tables: readonly RoutingTable[];
}

describe('routing convergence (property)', () => {
  it('agents that received the same records hold equal tables, whatever the order, losses and duplicates', () => {
    fc.assert(
      fc.property(historyArb, optionsArb, fc.constantFrom('a', 'b', 'z'), fc.gen(), (ops, options, localZone, g) => {
        const truth = play(ops);
        const hold = options.failbackHoldDownMs ?? 30_000;
        const agents: Agent[] = [0, 1, 2].map(() => ({ catalog: [], tables: [] }));

        // Each agent gets each record 0, 1 or 2 times, at a time after its publication.
        for (const agent of agents) {
          const deliveries: { at: number; record: NodeRecord; view: number }[] = [];
          truth.records.forEach((record, i) => {
            const copies = g(fc.integer, { min: 0, max: 2 });
            for (let c = 0; c < copies; c++) {
              const at = i * 100 + g(fc.integer, { min: 0, max: 2_000 });
              deliveries.push({ at, record, view: g(fc.integer, { min: 0, max: truth.views.length - 1 }) });
            }
          });
          deliveries.sort((a, b) => a.at - b.at);
          let view = 0;
          for (const d of deliveries) {
            view = Math.max(view, d.view); // membership only moves forward
            agent.catalog = applyRecord(agent.catalog, d.record).catalog;
            const members = truth.views[view]!;
            const result = computeRouting({
              records: agent.catalog,
              members,
              localZone,
              now: d.at,
              options,
            });
            checkTables(result, agent.catalog, members);
            agent.tables = result.tables;
          }
        }

        // Anti-entropy: everyone gets everything, shuffled and duplicated; membership agrees.
        const T = truth.records.length * 100 + 5_000;
        const finalView = truth.views.at(-1)!;
        for (const agent of agents) {
          const all = [...truth.records, ...truth.records].map((r) => ({ r, k: g(fc.integer, {}) }));
          all.sort((a, b) => a.k - b.k);
          for (const { r } of all) agent.catalog = applyRecord(agent.catalog, r).catalog;
        }
        const json = (x: unknown) => JSON.stringify(x);
        for (const agent of agents) expect(json(agent.catalog)).toBe(json(agents[0]!.catalog));
        expect(agents[0]!.catalog).toEqual(mergeCatalogs(truth.records));

        const shuffledView = () => {
          const v = [...finalView, ...finalView.filter(() => g(fc.boolean))];
          return v.sort(() => (g(fc.boolean) ? 1 : -1));
        };
        const fresh = agents.map((a) =>
          computeRouting({ records: a.catalog, members: shuffledView(), localZone, now: T + hold, options }),
        );
        for (const f of fresh) {
          expect(json(f)).toBe(json(fresh[0]));
          expect(f).toEqual(fresh[0]);
        }
        checkTables(fresh[0]!, agents[0]!.catalog, finalView);

        // With their own histories: equal once the hold-down has run out.
        const later = agents.map((a) => {
          const atT = computeRouting({
            records: a.catalog,
            members: shuffledView(),
            localZone,
            now: T,
            options,
          });
          checkTables(atT, a.catalog, finalView);
          return computeRouting({
            records: [...a.catalog].reverse(),
            members: shuffledView(),
            localZone,
            now: T + hold,
            options,
          });
        });
        for (const l of later) expect(json(l)).toBe(json(fresh[0]));
      }),
      { numRuns: 150 },
    );
  }, 120_000);
});

describe('routing function (properties)', () => {
  const recordsArb = historyArb.map((ops) => play(ops));

  it('is invariant under record order, duplicates and member order', () => {
    fc.assert(
      fc.property(recordsArb, optionsArb, fc.gen(), (truth, options, g) => {
        const members = truth.views.at(-1)!;
        const a = computeRouting({ records: truth.records, members, localZone: 'a', now: 0, options });
        const shuffled = [...truth.records, ...truth.records].sort(() => (g(fc.boolean) ? 1 : -1));
        const b = computeRouting({
          records: shuffled,
          members: [...members].reverse(),
          localZone: 'a',
          now: 0,
          options,
        });
        expect(JSON.stringify(b)).toBe(JSON.stringify(a));
      }),
      { numRuns: 200 },
    );
  });

  it('computes only the services asked for, each table equal to the full computation', () => {
    // The mesh recomputes only the services whose instances entered or left the ejected set.
    fc.assert(
      fc.property(recordsArb, optionsArb, fc.gen(), (truth, options, g) => {
        const members = truth.views.at(-1)!;
        const instances = mergeCatalogs(truth.records).flatMap((r) =>
          r.instances.map((i) => ({ node: r.node, id: i.id })),
        );
        const ejected = instances.filter(() => g(fc.boolean));
        const services = new Set(SERVICES.filter(() => g(fc.boolean)));
        const input = { records: truth.records, members, localZone: 'a', now: 5_000, options, ejected };
        const full = computeRouting(input);
        const only = computeRouting({ ...input, services });
        expect(only.tables).toEqual(full.tables.filter((t) => services.has(t.service)));
      }),
      { numRuns: 200 },
    );
  });

  it("matches Envoy's priority-load formula when everything is in one zone and panic is off", () => {
    // Reference: health = min(100, f × healthy%); normalized = min(100, Σ health);
    // load(P) = min(remaining, health × 100 / normalized).
    const tierArb = fc.array(
      fc.record({ n: fc.integer({ min: 1, max: 8 }), healthy: fc.integer({ min: 0, max: 8 }) }),
      { minLength: 1, maxLength: 4 },
    );
    fc.assert(
      fc.property(tierArb, fc.constantFrom(1, 1.4, 2), (tiers, f) => {
        const instances: InstanceRecord[] = [];
        tiers.forEach(({ n, healthy }, p) => {
          for (let i = 0; i < n; i++) {
            instances.push({
              id: `t${p}-${i}`,
              service: 'web',
              address: '10.0.0.1',
              port: 1,
              tags: [],
              meta: {},
              weight: 1,
              priority: p,
              zone: 'a',
              policy: 'active-passive',
              health: i < Math.min(healthy, n) ? 'passing' : 'critical',
              maintenance: false,
            });
          }
        });
        const records = [{ node: 'n', peerId: 'p', epoch: 1, seq: 1, instances }];
        const result = computeRouting({
          records,
          members: [{ name: 'n', status: 'alive', confirmedSuspect: false }],
          localZone: 'a',
          now: 0,
          options: { panicThreshold: 0, overprovisioningFactor: f },
        });
        const health = tiers.map(({ n, healthy }) => Math.min(1, (f * Math.min(healthy, n)) / n));
        const normalized = Math.min(
          1,
          health.reduce((s, h) => s + h, 0),
        );
        let remaining = 1;
        const expected = health.map((h) => {
          const load = normalized > 0 ? Math.min(remaining, h / normalized) : 0;
          remaining -= load;
          return load;
        });
        const t = result.tables[0]!;
        const loads = t.tiers.map((x) => x.load);
        expect(loads).toHaveLength(tiers.length);
        for (const [i, l] of loads.entries()) {
          expect(Math.abs(l - expected[i]!)).toBeLessThanOrEqual(tiers.length * 8 * 1e-6);
        }
      }),
      { numRuns: 300 },
    );
  });
});
