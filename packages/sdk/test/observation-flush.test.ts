// When the SDK's outcome reports reach the agent. The first failure of a burst goes at once, even
// when a success batch is already waiting on its 1 s timer: the second observer's first failure is
// what ejects an endpoint mesh-wide, so a failure held behind successes delays every host's
// demotion by up to a second (the bug bench:outlier found, fixed in 1b30678), and one held 25 ms
// adds 25 ms to every demotion. The rest of a burst folds into one batch per failureFlushMs.
//
// The reporter's timers are vitest's fake ones (setTimeout and performance.now only), so "within
// 25 ms, not 1 s" is a statement about virtual time, not a wall-clock race on a loaded host. The
// batches themselves go over a real socket to the FakeAgent once the clock has moved.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_BREAKER_OPTIONS } from '../src/breaker.ts';
import { OBSERVATIONS } from '../src/defaults.ts';
import { ObservationReporter } from '../src/observations.ts';
import { type Endpoint, ServiceRoutes } from '../src/service-routes.ts';
import { FakeAgent, table, until } from './helpers/fake-agent.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c();
});

function endpoints(): readonly Endpoint[] {
  const t = table('pay', [
    { id: 'a', port: 1, share: 0.5 },
    { id: 'b', port: 2, share: 0.5 },
  ]);
  return new ServiceRoutes(t, DEFAULT_BREAKER_OPTIONS, () => 0, { maxEjectionShare: 1, panicThreshold: 0 }).endpoints;
}

async function started(): Promise<FakeAgent> {
  const agent = new FakeAgent();
  await agent.start();
  cleanups.push(() => agent.stop());
  return agent;
}

/** The reporter under the fake clock; its close() runs under real timers (afterEach restores them). */
function reporter(agent: FakeAgent): ObservationReporter {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  const r = new ObservationReporter(agent.url, undefined);
  cleanups.push(() => r.close());
  return r;
}

const outcomes = (agent: FakeAgent) =>
  agent.observations.map((batch) =>
    batch.observations.map(
      (o) => `${o.id}:${['ok', 'refused', 'timeout', 'http5xx', 'other'].filter((k) => Number(o[k]) > 0).join('+')}`,
    ),
  );

describe('observation flush order', () => {
  it('a failure after successes goes at once, not behind the armed success timer', async () => {
    const agent = await started();
    const [a, b] = endpoints();
    const r = reporter(agent);
    r.record(a!, 'ok', 3, false); // arms the 1 s success flush
    vi.advanceTimersByTime(100);
    r.record(b!, 'http5xx', 2, false);
    vi.advanceTimersByTime(0);
    // flush() counts its batch before it sends: at 100 ms of 1000, the failure is on its way.
    expect(r.stats.batches).toBe(1);
    vi.useRealTimers();
    await until(() => agent.observations.length === 1, 'the batch at the agent');
    expect(outcomes(agent)).toEqual([['a:ok', 'b:http5xx']]);
  });

  it('the rest of a burst folds into one batch failureFlushMs after the first, successes too', async () => {
    const agent = await started();
    const [a, b] = endpoints();
    const r = reporter(agent);
    r.record(b!, 'timeout', 2, false);
    vi.advanceTimersByTime(0);
    expect(r.stats.batches).toBe(1);
    vi.advanceTimersByTime(5);
    r.record(b!, 'http5xx', 2, false);
    r.record(a!, 'ok', 3, false); // must not push the failure's flush back to 1 s
    vi.advanceTimersByTime(OBSERVATIONS.failureFlushMs - 6);
    expect(r.stats.batches).toBe(1);
    vi.advanceTimersByTime(1);
    expect(r.stats.batches).toBe(2);
    // A failure after a quiet failureFlushMs is a new burst: at once again.
    vi.advanceTimersByTime(OBSERVATIONS.failureFlushMs);
    r.record(b!, 'refused', 2, false);
    vi.advanceTimersByTime(0);
    expect(r.stats.batches).toBe(3);
    vi.useRealTimers();
    await until(() => agent.observations.length === 3, 'the batches at the agent');
    expect(outcomes(agent)).toEqual([['b:timeout'], ['b:http5xx', 'a:ok'], ['b:refused']]);
  });

  it('a breaker opening flushes at once, ahead of both pending timers', async () => {
    const agent = await started();
    const [a, b] = endpoints();
    const r = reporter(agent);
    r.record(a!, 'ok', 3, false);
    r.record(b!, 'http5xx', 2, false);
    r.record(b!, 'http5xx', 2, true);
    vi.advanceTimersByTime(0);
    expect(r.stats.batches).toBe(1);
    // Nothing is left: neither the failure timer nor the success timer sends an empty batch.
    vi.advanceTimersByTime(OBSERVATIONS.flushMs);
    expect(r.stats.batches).toBe(1);
    vi.useRealTimers();
    await until(() => agent.observations.length === 1, 'the batch at the agent');
    expect(agent.observations[0]!.observations.find((o) => o.id === 'b')).toMatchObject({
      http5xx: 2,
      breakerOpened: true,
    });
  });

  it('a failure does not queue behind a batch the agent has not answered yet', async () => {
    const agent = await started();
    const [a, b] = endpoints();
    const r = reporter(agent);
    cleanups.push(async () => agent.releaseObservations()); // runs before r.close(), which waits for answers
    agent.holdObservations = true; // the agent reads batches but is slow to answer them
    r.record(a!, 'ok', 3, false);
    vi.advanceTimersByTime(OBSERVATIONS.flushMs);
    vi.useRealTimers();
    await until(() => agent.observations.length === 1, 'the success batch at the agent');
    // On one keep-alive connection the failure would wait for that answer (HTTP/1.1 does not
    // pipeline here); it goes on its own connection instead.
    r.record(b!, 'http5xx', 2, false);
    await until(() => agent.observations.length === 2, 'the failure batch while the first is unanswered');
    expect(outcomes(agent)).toEqual([['a:ok'], ['b:http5xx']]);
    agent.releaseObservations();
    await until(() => r.stats.sent === 2, 'both batches answered');
  });

  it('a success alone waits for the 1 s batch', async () => {
    const agent = await started();
    const [a] = endpoints();
    const r = reporter(agent);
    r.record(a!, 'ok', 3, false);
    vi.advanceTimersByTime(OBSERVATIONS.flushMs - 1);
    expect(r.stats.batches).toBe(0);
    vi.advanceTimersByTime(1);
    expect(r.stats.batches).toBe(1);
  });
});

describe('refused reports', () => {
  it('warn the application once when the agent refuses them (403), with the reason', async () => {
    const agent = await started();
    agent.refuseObservations = true;
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    cleanups.push(async () => {
      process.off('warning', onWarning);
    });
    const [, b] = endpoints();
    const r = new ObservationReporter(agent.url, undefined);
    cleanups.push(() => r.close());
    for (const batch of [1, 2]) {
      r.record(b!, 'http5xx', 2, true); // a breaker opening flushes at once
      await until(() => r.stats.failedBatches === batch, `refused batch ${batch}`);
    }
    await until(() => warnings.length > 0, 'the warning');
    expect(warnings).toHaveLength(1);
    expect((warnings[0] as Error & { code?: string }).code).toBe('VIGIL_OBSERVATIONS_REFUSED');
    expect(warnings[0]!.message).toContain('403');
    expect(warnings[0]!.message).toContain('X-Vigil-Token');
  });
});
