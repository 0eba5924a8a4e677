/**
 * client.call(): retries, timeouts, deadline, abort, fallback, bulkhead, retryOn and the
 * per-endpoint breakers. A FakeAgent (test/helpers/fake-agent.ts) serves the routing tables; the
 * attempts here are plain functions, so each test decides exactly which endpoint fails how. (The
 * HTTP path with real instance servers is in fetch.test.ts; the real-agent end-to-end test comes
 * with the demo.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AttemptTimeoutError,
  BulkheadRejectedError,
  connect,
  DeadlineExceededError,
  type Endpoint,
  NoHealthyEndpointError,
  UnknownServiceError,
  type VigilClient,
} from '../src/index.ts';
import { FakeAgent, table } from './helpers/fake-agent.ts';

/**
 * Lets every promise job already queued run (one macrotask turn; nothing here waits on I/O or a
 * timer), so "has not started" is checked after the work that could start it, not after a sleep.
 */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
const clock = { t: 0 };
let agent: FakeAgent;
let client: VigilClient;

const three = (service: string) =>
  table(service, [
    { id: 'a', port: 1, share: 0.34 },
    { id: 'b', port: 2, share: 0.33 },
    { id: 'c', port: 3, share: 0.33 },
    { id: 's', port: 4, state: 'standby', tier: 1 },
  ]);

beforeAll(async () => {
  agent = new FakeAgent();
  for (const name of [
    'retry',
    'exhaust',
    'tiers',
    'timeout',
    'deadline',
    'abort',
    'fallback',
    'bulk',
    'reton',
    'reterr',
    'trip',
  ]) {
    agent.setTable(three(name));
  }
  agent.setTable(table('half', [{ id: 'only', port: 9, share: 1 }]));
  agent.setTable(table('grow', [{ id: 'only', port: 9, share: 1 }]));
  await agent.start();
  client = await connect({
    agent: agent.url,
    now: () => clock.t,
    defaults: { backoff: { baseMs: 1, maxMs: 5 } },
    breaker: { consecutiveFailures: 3, baseEjectionMs: 1_000, maxEjectionMs: 10_000 },
    services: {
      half: { breaker: { halfOpenMaxCalls: 3, halfOpenSuccesses: 2 } },
      retry: { breaker: { consecutiveFailures: 1_000, minimumRequests: 1_000 } },
    },
  });
});

afterAll(async () => {
  await client.close();
  await agent.stop();
});

const boom = (ep: Endpoint) => Object.assign(new Error(`${ep.id} failed`), { endpoint: ep.id });

describe('call: retries', () => {
  it('retries on endpoints not tried yet in this call', async () => {
    for (let round = 0; round < 20; round++) {
      const tried: string[] = [];
      const out = await client.call(
        'retry',
        async (ep, _signal, info) => {
          tried.push(ep.id);
          expect(info.attempt).toBe(tried.length - 1);
          if (tried.length < 3) throw boom(ep);
          return ep.id;
        },
        { retries: 2 },
      );
      expect(new Set(tried).size).toBe(3);
      expect(out).toBe(tried[2]);
      expect(tried).not.toContain('s'); // actives first: three untried actives were available
    }
  });

  it('throws the last error when retries run out, and counts attempts', async () => {
    const before = client.stats().services.exhaust!;
    let n = 0;
    const err = await client
      .call(
        'exhaust',
        async (ep) => {
          n++;
          throw boom(ep);
        },
        { retries: 1 },
      )
      .catch((e: unknown) => e);
    expect(n).toBe(2);
    expect((err as Error).message).toMatch(/failed/);
    const after = client.stats().services.exhaust!;
    expect(after.attempts - before.attempts).toBe(2);
    expect(after.retries - before.retries).toBe(1);
    expect(after.failures - before.failures).toBe(1);
  });

  it('moves to standby once every active endpoint failed in this call', async () => {
    const tried: string[] = [];
    const out = await client.call(
      'tiers',
      async (ep) => {
        tried.push(ep.id);
        if (ep.state === 'active') throw boom(ep);
        return ep.id;
      },
      { retries: 5 },
    );
    expect(out).toBe('s');
    expect(tried.slice(0, 3).sort()).toEqual(['a', 'b', 'c']);
  });
});

describe('call: time limits, abort and fallback', () => {
  it('times an attempt out, aborts its signal, and retries elsewhere', async () => {
    const signals: AbortSignal[] = [];
    const out = await client.call(
      'timeout',
      (ep, signal) => {
        signals.push(signal);
        if (signals.length === 1) return new Promise<string>(() => {}); // ignores its signal
        return ep.id;
      },
      { timeoutMs: 50 },
    );
    expect(typeof out).toBe('string');
    expect(signals[0]!.aborted).toBe(true);
    expect(signals[0]!.reason).toBeInstanceOf(AttemptTimeoutError);
    expect(client.stats().services.timeout!.timeouts).toBe(1);
  });

  it('stops the whole call at its deadline', async () => {
    const started = Date.now();
    const signals: AbortSignal[] = [];
    const err = await client
      .call(
        'deadline',
        (_ep, signal) => {
          signals.push(signal);
          return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
        },
        { deadlineMs: 100, timeoutMs: 10_000 },
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect((err as DeadlineExceededError).service).toBe('deadline');
    expect((err as DeadlineExceededError).attempts).toBe(1);
    expect(signals[0]!.aborted).toBe(true);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("rejects with the caller's abort reason, without fallback and without blaming the endpoint", async () => {
    const ctl = new AbortController();
    let fellBack = false;
    const p = client.call(
      'abort',
      (_ep, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('x')))),
      {
        signal: ctl.signal,
        fallback: () => {
          fellBack = true;
          return 'fallback';
        },
      },
    );
    setTimeout(() => ctl.abort(new Error('user gave up')), 20);
    await expect(p).rejects.toThrow('user gave up');
    expect(fellBack).toBe(false);
    const eps = client.stats().services.abort!.endpoints;
    expect(eps.every((e) => e.failures === 0)).toBe(true);
    await expect(client.call('abort', async () => 1, { signal: ctl.signal })).rejects.toThrow('user gave up');
  });

  it('answers with the fallback when every attempt fails', async () => {
    let seen: unknown;
    const out = await client.call(
      'fallback',
      async (ep) => {
        throw boom(ep);
      },
      {
        retries: 1,
        fallback: (err) => {
          seen = err;
          return 'cached answer';
        },
      },
    );
    expect(out).toBe('cached answer');
    expect((seen as Error).message).toMatch(/failed/);
    expect(client.stats().services.fallback!.fallbacks).toBe(1);
  });

  it('fails with UnknownServiceError for a service not in the table', async () => {
    await expect(client.call('nope', async () => 1)).rejects.toBeInstanceOf(UnknownServiceError);
  });
});

describe('call: bulkhead', () => {
  it('runs `concurrency` calls, queues `queue` more and rejects the rest', async () => {
    const gates: (() => void)[] = [];
    const bulkhead = { concurrency: 2, queue: 1 };
    const run = () =>
      client.call('bulk', () => new Promise<string>((resolve) => gates.push(() => resolve('done'))), { bulkhead });
    const calls = Array.from({ length: 5 }, run);
    const settled = calls.map((p) =>
      p.then(
        (v) => v,
        (e: unknown) => e,
      ),
    );
    await settle();
    expect(gates).toHaveLength(2);
    expect(client.stats().services.bulk!.bulkheads).toEqual([{ concurrency: 2, queue: 1, running: 2, queued: 1 }]);
    gates.shift()!();
    await settle();
    expect(gates).toHaveLength(2); // the queued call took the freed slot
    for (const g of gates.splice(0)) g();
    const results = await Promise.all(settled);
    expect(results.filter((r) => r === 'done')).toHaveLength(3);
    const rejected = results.filter((r) => r instanceof BulkheadRejectedError) as BulkheadRejectedError[];
    expect(rejected).toHaveLength(2);
    expect(rejected[0]!.message).toMatch(/bulkhead for bulk is full/);
    expect(client.stats().services.bulk!.rejected).toBe(2);
  });

  it('lets a queued call leave at its deadline', async () => {
    const gates: (() => void)[] = [];
    const bulkhead = { concurrency: 1, queue: 5 };
    const first = client.call('bulk', () => new Promise<void>((resolve) => gates.push(resolve)), { bulkhead });
    const queued = client.call('bulk', async () => 'ran', { bulkhead, deadlineMs: 50 });
    await expect(queued).rejects.toBeInstanceOf(DeadlineExceededError);
    gates[0]!();
    await first;
  });
});

describe('call: retryOn', () => {
  it('retries results the predicate calls failures, and returns the last one when retries run out', async () => {
    const out = await client.call(
      'reton',
      async (ep, _s, info) => ({ status: info.attempt === 0 ? 503 : 200, ep: ep.id }),
      {
        retryOn: ({ result }) => (result?.status ?? 0) >= 500,
      },
    );
    expect(out.status).toBe(200);
    const last = await client.call('reton', async () => ({ status: 503 }), {
      retries: 1,
      retryOn: ({ result }) => (result?.status ?? 0) >= 500,
    });
    expect(last.status).toBe(503);
  });

  it('does not retry (or blame the endpoint for) an error the predicate accepts', async () => {
    let n = 0;
    const notFound = Object.assign(new Error('404'), { status: 404 });
    await expect(
      client.call(
        'reterr',
        async () => {
          n++;
          throw notFound;
        },
        { retryOn: ({ error }) => (error as { status?: number }).status !== 404 },
      ),
    ).rejects.toBe(notFound);
    expect(n).toBe(1);
    expect(client.stats().services.reterr!.endpoints.every((e) => e.failures === 0)).toBe(true);
  });
});

describe('call: breakers', () => {
  it('opens an endpoint after consecutive failures; picks then skip it; stats show it', async () => {
    clock.t = 0;
    const failing = async (ep: Endpoint) => {
      if (ep.id === 'a') throw boom(ep);
      return ep.id;
    };
    for (let i = 0; i < 200 && client.stats().services.trip!.ejected === 0; i++) {
      await client.call('trip', failing, { retries: 3 });
    }
    const a = client.stats().services.trip!.endpoints.find((e) => e.key.endsWith('/a'))!;
    expect(a).toMatchObject({ state: 'open', ejections: 1, trips: 1, openForMs: 1_000 });
    for (let i = 0; i < 1_000; i++) expect(client.resolve('trip').id).not.toBe('a');
    clock.t = 1_000;
    expect(client.stats().services.trip!.endpoints.find((e) => e.key.endsWith('/a'))!.state).toBe('half-open');
  });

  it('admits exactly halfOpenMaxCalls trials under many concurrent calls, then closes on success', async () => {
    clock.t = 10_000;
    const fail = async (ep: Endpoint) => {
      throw boom(ep);
    };
    for (let i = 0; i < 3; i++) await client.call('half', fail, { retries: 0 }).catch(() => {});
    const only = () => client.stats().services.half!.endpoints[0]!;
    expect(only().state).toBe('open');
    await expect(client.call('half', async () => 1)).rejects.toBeInstanceOf(NoHealthyEndpointError);

    clock.t += 1_000; // the open period is over: half-open
    let started = 0;
    const gates: (() => void)[] = [];
    const trial = () =>
      new Promise<string>((resolve) => {
        started++;
        gates.push(() => resolve('ok'));
      });
    const calls = Array.from({ length: 50 }, () =>
      client.call('half', trial, { retries: 0 }).then(
        (v) => v,
        (e: unknown) => e,
      ),
    );
    await settle();
    expect(started).toBe(3);
    expect(only()).toMatchObject({ state: 'half-open', halfOpenInFlight: 3 });
    gates[0]!();
    await settle();
    expect(only().state).toBe('half-open'); // one success of the two needed
    gates[1]!();
    await settle();
    expect(only().state).toBe('closed');
    gates[2]!();
    const results = await Promise.all(calls);
    expect(results.filter((r) => r === 'ok')).toHaveLength(3);
    const refused = results.filter((r) => r instanceof NoHealthyEndpointError) as NoHealthyEndpointError[];
    expect(refused).toHaveLength(47);
    expect(refused[0]!.service).toBe('half');
    expect(refused[0]!.message).toMatch(/"half" has no usable endpoint/);
    expect(await client.call('half', async () => 'back')).toBe('back');
  });

  it('reopens on a failed trial with a longer ejection each time', async () => {
    clock.t = 100_000;
    const fail = async (ep: Endpoint) => {
      throw boom(ep);
    };
    for (let i = 0; i < 3; i++) await client.call('grow', fail, { retries: 0 }).catch(() => {});
    const only = () => client.stats().services.grow!.endpoints[0]!;
    expect(only()).toMatchObject({ state: 'open', openForMs: 1_000 });
    clock.t += 1_000;
    await client.call('grow', fail, { retries: 0 }).catch(() => {});
    expect(only()).toMatchObject({ state: 'open', ejections: 2, openForMs: 2_000 });
    clock.t += 2_000;
    await client.call('grow', fail, { retries: 0 }).catch(() => {});
    expect(only()).toMatchObject({ state: 'open', ejections: 3, openForMs: 3_000 });
  });
});
