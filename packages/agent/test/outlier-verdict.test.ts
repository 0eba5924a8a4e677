// The mesh-wide outlier verdict (src/outlier/verdict.ts), as pure function and as properties over
// random opinions: quorum, own-host exclusion, discounting, max-ejection share, panic threshold,
// Envoy's growing ejection time, successful trials, flap damping, and independence from the order
// in which records arrived.

import type { EndpointOpinion, NodeRecord, OpinionState } from '@vigil/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeVerdict, OUTLIER_DEFAULTS, type OutlierVerdict } from '../src/outlier/index.ts';
import { inst, member, rec } from './routing-fixtures.ts';

const SERVERS = ['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9'];
const OBSERVERS = ['c0', 'c1', 'c2', 'c3', 'c4'];
const o = OUTLIER_DEFAULTS;

function opinion(node: string, transitions: [number, OpinionState][], service = 'web'): EndpointOpinion {
  return {
    node,
    id: node,
    service,
    ok: 0,
    refused: 0,
    timeout: 0,
    http5xx: 5,
    other: 0,
    latencyMs: 3,
    transitions: transitions.map(([at, state]) => ({ at, state })),
  };
}

function servers(names = SERVERS, health: Record<string, 'passing' | 'critical'> = {}): NodeRecord[] {
  return names.map((n) => rec(n, [inst(n, { health: health[n] ?? 'passing' })]));
}

function observer(node: string, opinions: EndpointOpinion[]): NodeRecord {
  return { ...rec(node, []), opinions };
}

function verdict(records: NodeRecord[], now: number, panicThreshold = 0.5): OutlierVerdict {
  return computeVerdict({ records, members: records.map((r) => member(r.node)), now, panicThreshold });
}

const failingAt = (t: number): [number, OpinionState][] => [
  [0, 'ok'],
  [t, 'failing'],
];

describe('outlier verdict', () => {
  it('one observer, however sure, ejects nothing; a second independent one ejects', () => {
    const one = [...servers(), observer('c0', [opinion('s1', failingAt(1000))])];
    expect(verdict(one, 2000).ejected).toEqual([]);
    const two = [...one, observer('c1', [opinion('s1', failingAt(1500))])];
    const v = verdict(two, 2000);
    expect(v.ejected.map((e) => [e.node, e.since, e.until, e.ejections])).toEqual([
      ['s1', 1500, 1500 + o.baseEjectionMs, 1],
    ]);
    expect(v.ejected[0]!.observers.map((x) => [x.node, x.state, x.since, x.http5xx])).toEqual([
      ['c0', 'failing', 1000, 5],
      ['c1', 'failing', 1500, 5],
    ]);
    expect(v.nextChangeAt).toBe(1500 + o.baseEjectionMs);
    // The window ends: restored.
    expect(verdict(two, 1500 + o.baseEjectionMs).ejected).toEqual([]);
  });

  it("the endpoint's own host never counts as an observer", () => {
    const records = [
      ...servers(SERVERS.slice(2)),
      { ...rec('s0', [inst('s0')]), opinions: [opinion('s0', failingAt(10))] },
      { ...rec('s1', [inst('s1')]), opinions: [opinion('s0', failingAt(10))] },
    ];
    expect(verdict(records, 100).ejected.map((e) => e.node)).toEqual([]);
    const withThird = [...records, observer('c0', [opinion('s0', failingAt(20))])];
    expect(verdict(withThird, 100).ejected.map((e) => e.node)).toEqual(['s0']);
  });

  it('an observer failing against everything is discounted and cannot make a quorum', () => {
    const broken = observer(
      'c0',
      SERVERS.slice(0, 4).map((s) => opinion(s, failingAt(100))),
    );
    const records = [...servers(), broken, observer('c1', [opinion('s1', failingAt(200))])];
    const v = verdict(records, 1000);
    expect(v.ejected).toEqual([]);
    expect(v.discounted.map((d) => [d.observer, d.failingHosts, d.observedHosts])).toEqual([['c0', 4, 4]]);
    // Two healthy observers still eject despite the broken one.
    const more = [...records, observer('c2', [opinion('s1', failingAt(300))])];
    expect(verdict(more, 1000).ejected.map((e) => [e.node, e.observers.map((x) => x.node)])).toEqual([
      ['s1', ['c1', 'c2']],
    ]);
  });

  it('an observer failing against one of many endpoints is not discounted', () => {
    const ops = SERVERS.map((s) => opinion(s, s === 's3' ? failingAt(100) : [[0, 'ok']]));
    const records = [...servers(), observer('c0', ops), observer('c1', [opinion('s3', failingAt(150))])];
    const v = verdict(records, 500);
    expect(v.discounted).toEqual([]);
    expect(v.ejected.map((e) => e.node)).toEqual(['s3']);
  });

  it('a stale failing view cannot re-eject; fresh failures after the return eject for longer', () => {
    const end1 = 1000 + o.baseEjectionMs;
    const stale = [
      ...servers(),
      observer('c0', [opinion('s1', failingAt(1000))]),
      observer('c1', [opinion('s1', failingAt(1000))]),
    ];
    expect(verdict(stale, end1 + 10).ejected).toEqual([]);
    // Both went idle while it was out, then failed again right after it came back.
    const again = (t: number): [number, OpinionState][] => [
      [0, 'ok'],
      [1000, 'failing'],
      [12_000, 'idle'],
      [t, 'failing'],
    ];
    const fresh = [
      ...servers(),
      observer('c0', [opinion('s1', again(end1 + 100))]),
      observer('c1', [opinion('s1', again(end1 + 200))]),
    ];
    const v = verdict(fresh, end1 + 300);
    expect(v.ejected.map((e) => [e.since, e.ejections, e.until - e.since])).toEqual([
      [end1 + 200, 2, 2 * o.baseEjectionMs],
    ]);
  });

  it('a successful trial ends the ejection early', () => {
    const records = [
      ...servers(),
      observer('c0', [opinion('s1', [...failingAt(1000), [20_000, 'ok']])]),
      observer('c1', [opinion('s1', failingAt(1000))]),
    ];
    expect(verdict(records, 19_999).ejected.map((e) => e.until)).toEqual([20_000]);
    expect(verdict(records, 20_000).ejected).toEqual([]);
  });

  it('a flapping instance is damped: held out past its window, trials notwithstanding', () => {
    // Three ejections in quick succession (each followed by a trial): penalty over the limit.
    const h: [number, OpinionState][] = [[0, 'ok']];
    for (const t of [1000, 100_000, 200_000]) h.push([t, 'failing'], [t + 1, 'ok']);
    h.shift();
    const records = [...servers(), observer('c0', [opinion('s1', h)]), observer('c1', [opinion('s1', h)])];
    const v = verdict(records, 200_010);
    expect(v.ejected).toHaveLength(1);
    const e = v.ejected[0]!;
    expect(e.damped).toBe(true);
    expect(e.penalty).toBeGreaterThan(o.flapSuppress);
    expect(e.until).toBeGreaterThan(200_000 + o.baseEjectionMs * e.ejections);
    // The early ejections ended at their trials.
    expect(verdict(records, 1002).ejected).toEqual([]);
  });

  it('the max-ejection share holds: a second bad endpoint is held, and reported', () => {
    const records = [
      ...servers(),
      observer('c0', [opinion('s1', failingAt(100)), opinion('s2', failingAt(200))]),
      observer('c1', [opinion('s1', failingAt(100)), opinion('s2', failingAt(200))]),
    ];
    const v = verdict(records, 1000);
    expect(v.ejected.map((e) => e.node)).toEqual(['s1']);
    expect(v.held.map((e) => [e.node, e.heldBy])).toEqual([['s2', 'max-ejection']]);
  });

  it('nothing is ejected below the panic threshold', () => {
    const two = ['s0', 's1'];
    const records = [
      ...servers(two),
      observer('c0', [opinion('s0', failingAt(100))]),
      observer('c1', [opinion('s0', failingAt(100))]),
    ];
    expect(verdict(records, 1000, 0.5).ejected.map((e) => e.node)).toEqual(['s0']);
    expect(verdict(records, 1000, 0.6).held.map((e) => e.heldBy)).toEqual(['panic']);
    const oneHealthy = [...servers(two, { s1: 'critical' }), ...records.slice(2)];
    expect(verdict(oneHealthy, 1000, 0.5).ejected).toEqual([]);
  });
});

// Random opinions from random observers (servers observe each other too).
const STATES: OpinionState[] = ['failing', 'ok', 'idle'];
const arbTransitions = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 60_000 }), fc.constantFrom(...STATES, 'failing' as const)), {
    minLength: 1,
    maxLength: 8,
  })
  .map((ts) => {
    const sorted = ts.sort((a, b) => a[0] - b[0]);
    return sorted.map(([at, state], i) => ({ at: at + i, state }));
  });
const arbOpinion = fc.record({
  target: fc.constantFrom(...SERVERS.slice(0, 3)),
  transitions: arbTransitions,
});
const arbWorld = fc.record({
  opinions: fc.array(fc.tuple(fc.constantFrom(...OBSERVERS, ...SERVERS.slice(0, 6)), arbOpinion), { maxLength: 30 }),
  size: fc.integer({ min: 3, max: 6 }),
  critical: fc.array(fc.constantFrom(false, false, false, true), { minLength: 6, maxLength: 6 }),
  panic: fc.constantFrom(0, 0.3, 0.5, 0.7),
  share: fc.constantFrom(0.1, 0.34, 0.5, 1),
  now: fc.integer({ min: 0, max: 120_000 }),
  seed: fc.integer(),
});

type World = {
  opinions: [string, { target: string; transitions: { at: number; state: OpinionState }[] }][];
  size: number;
  critical: boolean[];
};

function world(w: World): NodeRecord[] {
  const names = SERVERS.slice(0, w.size);
  const byObserver = new Map<string, EndpointOpinion[]>();
  for (const [obs, op] of w.opinions) {
    const list = byObserver.get(obs) ?? [];
    if (list.some((x) => x.node === op.target)) continue;
    list.push({ ...opinion(op.target, []), transitions: op.transitions });
    byObserver.set(obs, list);
  }
  const records: NodeRecord[] = names.map((n, i) => ({
    ...rec(n, [inst(n, { health: w.critical[i] ? 'critical' : 'passing' })]),
    ...(byObserver.has(n) ? { opinions: byObserver.get(n) } : {}),
  }));
  for (const c of OBSERVERS) if (byObserver.has(c)) records.push(observer(c, byObserver.get(c)!));
  return records;
}

function judge(w: World & { now: number; panic: number; share: number }): OutlierVerdict {
  const records = world(w);
  return computeVerdict({
    records,
    members: records.map((r) => member(r.node)),
    now: w.now,
    panicThreshold: w.panic,
    options: { maxEjectionShare: w.share },
  });
}

describe('outlier verdict properties', () => {
  it('every ejection has a quorum of independent, undiscounted observers failing at its start', () => {
    let seen = 0;
    fc.assert(
      fc.property(arbWorld, (w) => {
        const v = judge(w);
        const discounted = new Set(v.discounted.map((d) => d.observer));
        seen += v.ejected.length;
        for (const e of v.ejected) {
          const obs = new Set(e.observers.map((x) => x.node));
          expect(obs.size).toBeGreaterThanOrEqual(2);
          expect(obs.has(e.node)).toBe(false);
          for (const x of e.observers) {
            expect(discounted.has(x.node)).toBe(false);
            expect(x.state).toBe('failing');
            expect(x.since).toBeLessThanOrEqual(e.since);
          }
          expect(e.since).toBeLessThanOrEqual(w.now);
          expect(e.until).toBeGreaterThan(w.now);
        }
      }),
      { numRuns: 300 },
    );
    // The property is not vacuous: random worlds do eject.
    expect(seen).toBeGreaterThan(10);
  });

  it('a single observer never causes an ejection, whatever it reports', () => {
    fc.assert(
      fc.property(arbWorld, fc.constantFrom(...OBSERVERS), (w, only) => {
        const records = world({ ...w, opinions: w.opinions.map(([, op]) => [only, op]) });
        const v = computeVerdict({
          records,
          members: records.map((r) => member(r.node)),
          now: w.now,
          panicThreshold: 0,
        });
        expect(v.ejected).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('the max-ejection share and the panic threshold always hold', () => {
    fc.assert(
      fc.property(arbWorld, (w) => {
        const v = judge(w);
        const total = w.size;
        const healthy = w.critical.slice(0, w.size).filter((c) => !c).length;
        const n = v.ejected.length;
        expect(n).toBeLessThanOrEqual(Math.max(1, Math.floor(w.share * total)));
        if (n > 0) expect((healthy - n) / total).toBeGreaterThanOrEqual(w.panic);
      }),
      { numRuns: 300 },
    );
  });

  it('the verdict depends on the records, not on their order or duplicates', () => {
    fc.assert(
      fc.property(arbWorld, (w) => {
        const records = world(w);
        const shuffled = fc.sample(fc.shuffledSubarray([...records, ...records], { minLength: records.length * 2 }), {
          seed: w.seed,
          numRuns: 1,
        })[0]!;
        const a = computeVerdict({
          records,
          members: records.map((r) => member(r.node)),
          now: w.now,
          panicThreshold: w.panic,
        });
        const b = computeVerdict({
          records: shuffled,
          members: [...records].reverse().map((r) => member(r.node)),
          now: w.now,
          panicThreshold: w.panic,
        });
        expect(JSON.stringify(b)).toBe(JSON.stringify(a));
      }),
      { numRuns: 200 },
    );
  });
});

describe('health-flap damping', () => {
  const flapping = (flaps: number[]) => [
    ...servers().filter((r) => r.node !== 's1'),
    rec('s1', [{ ...inst('s1'), flaps }]),
  ];

  it('an instance whose health flips often is held out until its penalty decays; one flip is not', () => {
    expect(verdict(flapping([1000, 2000]), 3000).ejected).toEqual([]);
    // Three down-and-up cycles within a minute: penalty ~3000, over the suppress limit.
    const flaps = [1000, 11_000, 21_000, 31_000, 41_000, 51_000];
    const v = verdict(flapping(flaps), 60_000);
    expect(v.ejected.map((e) => [e.node, e.damped, e.ejections, e.observers.length])).toEqual([['s1', true, 0, 0]]);
    const until = v.ejected[0]!.until;
    // RFC 2439: held until the penalty decays to the reuse limit (log2(3000/750) = 2 half-lives).
    expect(until).toBeGreaterThan(51_000 + 1.9 * o.flapHalfLifeMs);
    expect(until).toBeLessThan(51_000 + 2 * o.flapHalfLifeMs);
    expect(verdict(flapping(flaps), until).ejected).toEqual([]);
  });

  it('damping obeys the max-ejection share like any ejection', () => {
    const flaps = [1000, 11_000, 21_000, 31_000, 41_000, 51_000];
    const records = [
      ...servers().filter((r) => r.node !== 's1' && r.node !== 's2'),
      rec('s1', [{ ...inst('s1'), flaps }]),
      rec('s2', [{ ...inst('s2'), flaps: flaps.map((t) => t + 5) }]),
    ];
    const v = verdict(records, 60_000);
    expect(v.ejected.map((e) => e.node)).toEqual(['s1']);
    expect(v.held.map((e) => [e.node, e.heldBy])).toEqual([['s2', 'max-ejection']]);
  });
});
