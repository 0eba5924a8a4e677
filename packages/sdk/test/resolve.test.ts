import { describe, expect, it } from 'vitest';
import { DEFAULT_BREAKER_OPTIONS } from '../src/breaker.ts';
import { ServiceRoutes } from '../src/service-routes.ts';
import { seeded, table } from './helpers/fake-agent.ts';

const breaker = { ...DEFAULT_BREAKER_OPTIONS, consecutiveFailures: 1, baseEjectionMs: 1_000 };

function routesOf(t: ReturnType<typeof table>, clock = { t: 0 }) {
  // No ejection limits here: these tests are about the pick order (limits: breaker-limits.test.ts).
  return new ServiceRoutes(t, breaker, () => clock.t, { maxEjectionShare: 1, panicThreshold: 0 });
}

function histogram(routes: ServiceRoutes, n: number, rnd: () => number, zone?: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const k = routes.pick(rnd, zone, undefined);
    const key = k < 0 ? 'none' : routes.endpoints[k]!.id;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

function eject(routes: ServiceRoutes, id: string, now = 0): void {
  const i = routes.endpoints.findIndex((e) => e.id === id);
  const b = routes.breakers[i]!;
  b.failure(b.acquire(now), now);
}

describe('resolve picks', () => {
  it('spreads over active endpoints by share (seeded, generous bounds)', () => {
    const routes = routesOf(
      table(
        'web',
        [
          { id: 'a', port: 1, share: 0.6 },
          { id: 'b', port: 2, share: 0.3 },
          { id: 'c', port: 3, share: 0.1 },
          { id: 's', port: 4, state: 'standby', tier: 1 },
        ],
        'active-active',
      ),
    );
    const h = histogram(routes, 100_000, seeded(1));
    expect(h.a! / 100_000).toBeGreaterThan(0.57);
    expect(h.a! / 100_000).toBeLessThan(0.63);
    expect(h.b! / 100_000).toBeGreaterThan(0.27);
    expect(h.b! / 100_000).toBeLessThan(0.33);
    expect(h.c! / 100_000).toBeGreaterThan(0.08);
    expect(h.c! / 100_000).toBeLessThan(0.12);
    expect(h.s).toBeUndefined();
  });

  it('gives an open endpoint no traffic and renormalises the others', () => {
    const routes = routesOf(
      table('web', [
        { id: 'a', port: 1, share: 0.5 },
        { id: 'b', port: 2, share: 0.25 },
        { id: 'c', port: 3, share: 0.25 },
      ]),
    );
    eject(routes, 'a');
    const h = histogram(routes, 20_000, seeded(2));
    expect(h.a).toBeUndefined();
    expect(h.b! / 20_000).toBeGreaterThan(0.45);
    expect(h.c! / 20_000).toBeGreaterThan(0.45);
  });

  it('falls to standby (best tier first, spread within it) when every active endpoint is ejected, then to demoted', () => {
    const routes = routesOf(
      table('pay', [
        { id: 'p', port: 1, share: 1 },
        { id: 's1', port: 2, state: 'standby', tier: 1 },
        { id: 's2', port: 3, state: 'standby', tier: 1 },
        { id: 's3', port: 4, state: 'standby', tier: 2 },
        { id: 'd', port: 5, state: 'demoted', tier: 0 },
      ]),
    );
    expect(histogram(routes, 1_000, seeded(3))).toEqual({ p: 1_000 });
    eject(routes, 'p');
    const h = histogram(routes, 10_000, seeded(3));
    expect(Object.keys(h).sort()).toEqual(['s1', 's2']);
    expect(h.s1! / 10_000).toBeGreaterThan(0.45);
    eject(routes, 's1');
    eject(routes, 's2');
    expect(histogram(routes, 100, seeded(3))).toEqual({ s3: 100 });
    eject(routes, 's3');
    expect(histogram(routes, 100, seeded(3))).toEqual({ d: 100 });
    eject(routes, 'd');
    expect(routes.pick(seeded(3), undefined, undefined)).toBe(-1);
  });

  it('takes an ejected endpoint back once its open period is over (half-open)', () => {
    const clock = { t: 0 };
    const routes = routesOf(
      table('pay', [
        { id: 'p', port: 1, share: 1 },
        { id: 's', port: 2, state: 'standby', tier: 1 },
      ]),
      clock,
    );
    eject(routes, 'p');
    expect(routes.endpoints[routes.pick(Math.random, undefined, undefined)]!.id).toBe('s');
    clock.t = 1_000;
    expect(routes.endpoints[routes.pick(Math.random, undefined, undefined)]!.id).toBe('p');
  });

  it('prefers the zone within each state, and leaves it when the zone has nothing usable', () => {
    const routes = routesOf(
      table(
        'web',
        [
          { id: 'a1', port: 1, share: 0.5, zone: 'a' },
          { id: 'b1', port: 2, share: 0.5, zone: 'b' },
          { id: 'sa', port: 3, state: 'standby', zone: 'a', tier: 1 },
          { id: 'sb', port: 4, state: 'standby', zone: 'b', tier: 1 },
        ],
        'active-active',
      ),
    );
    expect(histogram(routes, 1_000, seeded(4), 'b')).toEqual({ b1: 1_000 });
    expect(histogram(routes, 1_000, seeded(4), 'a')).toEqual({ a1: 1_000 });
    const unknownZone = histogram(routes, 10_000, seeded(4), 'nowhere');
    expect(unknownZone.a1! / 10_000).toBeGreaterThan(0.45);
    eject(routes, 'b1');
    expect(histogram(routes, 1_000, seeded(4), 'b')).toEqual({ a1: 1_000 });
    eject(routes, 'a1');
    expect(histogram(routes, 1_000, seeded(4), 'b')).toEqual({ sb: 1_000 });
  });

  it('skips endpoints tried in this call while others are usable', () => {
    const routes = routesOf(
      table('web', [
        { id: 'a', port: 1, share: 0.9 },
        { id: 'b', port: 2, share: 0.1 },
        { id: 's', port: 3, state: 'standby', tier: 1 },
      ]),
    );
    const [a, b] = routes.endpoints;
    for (let i = 0; i < 100; i++) expect(routes.endpoints[routes.pick(Math.random, undefined, [a!])]!.id).toBe('b');
    expect(routes.endpoints[routes.pick(Math.random, undefined, [a!, b!])]!.id).toBe('s');
  });

  it('keeps breakers across table updates by endpoint key', () => {
    const t1 = table('web', [
      { id: 'a', port: 1, share: 0.5 },
      { id: 'b', port: 2, share: 0.5 },
    ]);
    const routes = routesOf(t1);
    eject(routes, 'a');
    expect(routes.tripped).toBe(1);
    routes.update(
      table('web', [
        { id: 'a', port: 1, share: 1 },
        { id: 'c', port: 3, share: 0 },
      ]),
    );
    expect(routes.tripped).toBe(1);
    expect(routes.breakers[0]!.state(0)).toBe('open');
    routes.update(table('web', [{ id: 'c', port: 3, share: 1 }]));
    expect(routes.tripped).toBe(0);
  });

  it('uses uniform picks when active shares are all zero', () => {
    const routes = routesOf(
      table('web', [
        { id: 'a', port: 1 },
        { id: 'b', port: 2 },
      ]),
    );
    const h = histogram(routes, 10_000, seeded(5));
    expect(h.a! / 10_000).toBeGreaterThan(0.45);
    expect(h.b! / 10_000).toBeGreaterThan(0.45);
  });
});
