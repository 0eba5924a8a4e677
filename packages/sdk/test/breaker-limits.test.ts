// The SDK's own safety: ejection limits and panic for the per-process breakers, retry budgets on by
// default, and outcome reports to the local agent (collective outlier detection). Real HTTP
// instances; the agent is the FakeAgent (its event stream and the observations route only).

import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_BREAKER_OPTIONS } from '../src/breaker.ts';
import { connect, type VigilClient } from '../src/client.ts';
import { classifyFailure } from '../src/observations.ts';
import { RetryBudget } from '../src/retry-budget.ts';
import { ServiceRoutes } from '../src/service-routes.ts';
import { FakeAgent, seeded, table, until } from './helpers/fake-agent.ts';
import { type Instance, startInstance } from './helpers/instances.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const breaker = { ...DEFAULT_BREAKER_OPTIONS, consecutiveFailures: 1, baseEjectionMs: 1_000 };
const four = () =>
  table('pay', [
    { id: 'a', port: 1, share: 0.25 },
    { id: 'b', port: 2, share: 0.25 },
    { id: 'c', port: 3, share: 0.25 },
    { id: 'd', port: 4, share: 0.25 },
  ]);

function trip(routes: ServiceRoutes, id: string): void {
  const b = routes.breakers[routes.endpoints.findIndex((e) => e.id === id)]!;
  b.failure(b.acquire(0), 0);
}

function picked(routes: ServiceRoutes): Set<string> {
  const rnd = seeded(7);
  const out = new Set<string>();
  for (let i = 0; i < 400; i++) out.add(routes.endpoints[routes.pick(rnd, undefined, undefined)]!.id);
  return out;
}

describe('breaker limits', () => {
  it('holds out at most the max-ejection share, the earliest tripped first', () => {
    const routes = new ServiceRoutes(four(), breaker, () => 0, { maxEjectionShare: 0.5, panicThreshold: 0 });
    trip(routes, 'c');
    expect([...picked(routes)].sort()).toEqual(['a', 'b', 'd']);
    trip(routes, 'a');
    expect([...picked(routes)].sort()).toEqual(['b', 'd']);
    // A third trip is over the share: only c and a (tripped first) stay out.
    trip(routes, 'b');
    expect([...picked(routes)].sort()).toEqual(['b', 'd']);
  });

  it('panics below the threshold: every breaker tripped still leaves every endpoint in use', () => {
    const routes = new ServiceRoutes(four(), breaker, () => 0, { maxEjectionShare: 1, panicThreshold: 0.5 });
    trip(routes, 'a');
    trip(routes, 'b');
    expect([...picked(routes)].sort()).toEqual(['c', 'd']);
    trip(routes, 'c');
    expect([...picked(routes)].sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('a shared dependency making every instance 5xx never turns into NoHealthyEndpointError', async () => {
    const agent = new FakeAgent();
    const instances: Instance[] = [];
    for (const n of ['a', 'b', 'c', 'd']) instances.push(await startInstance(n));
    cleanups.push(async () => {
      for (const i of instances) await i.close();
    });
    agent.setTable(
      table(
        'pay',
        instances.map((i) => ({ id: i.name, port: i.port, share: 0.25 })),
      ),
    );
    await agent.start();
    cleanups.push(() => agent.stop());
    const client = await connect({ agent: agent.url, breaker: { consecutiveFailures: 2 }, observations: false });
    cleanups.push(() => client.close());
    for (const i of instances) i.mode = '503';
    const statuses: (number | string)[] = [];
    for (let k = 0; k < 40; k++) {
      const res = await client.fetch('http://pay/x').then(
        (r) => r.status,
        (e: Error) => e.name,
      );
      statuses.push(res);
    }
    expect(new Set(statuses)).toEqual(new Set([503]));
    const stats = client.stats().services.pay!;
    expect(stats.ejected).toBeGreaterThan(0);
    // At most half are held out by this process's breakers: the others keep taking the calls.
    expect(instances.filter((i) => i.hits > 2).length).toBeGreaterThanOrEqual(2);
  });
});

describe('retry budget', () => {
  it('allows ratio × calls plus the floor over the window, then refuses', () => {
    const b = new RetryBudget({ ratio: 0.2, minPerSecond: 1, windowMs: 10_000 });
    for (let i = 0; i < 100; i++) b.deposit(0);
    let allowed = 0;
    for (let i = 0; i < 100; i++) if (b.tryWithdraw(0)) allowed++;
    expect(allowed).toBe(30); // 20% of 100 + 1/s × 10 s
    b.refund(0);
    expect(b.tryWithdraw(0)).toBe(true);
    expect(b.tryWithdraw(0)).toBe(false);
    // The window moves on: old calls and retries no longer count.
    expect(b.tryWithdraw(20_000)).toBe(true);
  });

  it('under a total outage, retries add no more than the budget', async () => {
    const agent = new FakeAgent();
    const instances: Instance[] = [];
    for (const n of ['a', 'b', 'c']) instances.push(await startInstance(n));
    cleanups.push(async () => {
      for (const i of instances) await i.close();
    });
    agent.setTable(
      table(
        'pay',
        instances.map((i) => ({ id: i.name, port: i.port, share: 1 / 3 })),
      ),
    );
    await agent.start();
    cleanups.push(() => agent.stop());
    const client: VigilClient = await connect({
      agent: agent.url,
      observations: false,
      // Breakers out of the way (huge thresholds), so every call really reaches the instances.
      breaker: { consecutiveFailures: 1_000_000, minimumRequests: 1_000_000 },
      retryBudget: { ratio: 0.2, minPerSecond: 1, windowMs: 60_000 },
      defaults: { retries: 2, backoff: { baseMs: 1, maxMs: 1 } },
    });
    cleanups.push(() => client.close());
    for (const i of instances) i.mode = '503';
    const calls = 200;
    for (let k = 0; k < calls; k++) await client.fetch('http://pay/x');
    const hits = instances.reduce((s, i) => s + i.hits, 0);
    const stats = client.stats().services.pay!;
    // Without a budget: 3 attempts per call (600). With it: calls + 20% + 60 (floor) at most.
    expect(hits).toBeLessThanOrEqual(calls + 0.2 * calls + 60);
    expect(hits).toBeGreaterThan(calls);
    expect(stats.retriesDenied).toBeGreaterThan(0);
    expect(stats.retryBudgetExhausted).toBe(stats.retriesDenied);
  });
});

describe('observations', () => {
  it('classifies failures: refused, timeout, 5xx, other', () => {
    expect(classifyFailure({ error: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) })).toBe('refused');
    expect(classifyFailure({ error: new Error('x', { cause: { code: 'UND_ERR_CONNECT_TIMEOUT' } }) })).toBe('timeout');
    expect(classifyFailure({ result: { status: 503 } })).toBe('http5xx');
    expect(classifyFailure({ error: new Error('x') })).toBe('other');
  });

  it('reports outcomes per endpoint to the agent in small batches, at once when a breaker opens', async () => {
    const agent = new FakeAgent();
    const a = await startInstance('a');
    const b = await startInstance('b');
    cleanups.push(async () => {
      await a.close();
      await b.close();
    });
    agent.setTable(
      table('pay', [
        { id: 'a', port: a.port, share: 0.5 },
        { id: 'b', port: b.port, share: 0.5 },
      ]),
    );
    await agent.start();
    cleanups.push(() => agent.stop());
    const client = await connect({ agent: agent.url, breaker: { consecutiveFailures: 3 } });
    cleanups.push(() => client.close());
    b.mode = '503';
    for (let k = 0; k < 20; k++) await client.fetch('http://pay/x');
    await until(
      () => agent.observations.some((o) => o.observations.some((x) => x.id === 'b' && x.breakerOpened === true)),
      'a batch saying b tripped a breaker',
    );
    await client.close();
    const sum = (id: string, field: string) =>
      agent.observations
        .flatMap((o) => o.observations)
        .filter((x) => x.id === id)
        .reduce((s, x) => s + Number(x[field] ?? 0), 0);
    expect(sum('b', 'http5xx')).toBe(b.hits);
    expect(sum('a', 'ok')).toBe(a.hits);
    for (const batch of agent.observations) expect(batch.observations.length).toBeLessThanOrEqual(2);
  });

  it('sends the ACL token it is configured with, as the agent requires for reports', async () => {
    const agent = new FakeAgent();
    const a = await startInstance('a');
    cleanups.push(() => a.close());
    agent.setTable(table('pay', [{ id: 'a', port: a.port, share: 1 }]));
    await agent.start();
    cleanups.push(() => agent.stop());
    const client = await connect({ agent: agent.url, token: 'sesame' });
    cleanups.push(() => client.close());
    a.mode = '503';
    await client.fetch('http://pay/x');
    await until(() => agent.observations.length > 0, 'a report at the agent');
    expect(agent.observationTokens[0]).toBe('sesame');
  });
});
