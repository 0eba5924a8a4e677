import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckRunner } from '../src/health/check-runner.ts';
import type { CheckResult } from '../src/health/status.ts';
import { TtlClock, ttlExpired } from '../src/health/ttl-check.ts';
import { VirtualRuntime } from '../src/runtime/index.ts';
import { pollingCheckOf } from './helpers/checks.ts';
import { TestHttpServer } from './helpers/servers.ts';
import { waitFor } from './helpers/wait.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function runnerFor(body: Record<string, unknown>, probe?: ConstructorParameters<typeof CheckRunner>[0]['probe']) {
  const results: CheckResult[] = [];
  const runner = new CheckRunner({
    check: pollingCheckOf(body),
    onResult: (r) => results.push(r),
    firstDelayMs: 0,
    ...(probe ? { probe } : {}),
  });
  cleanups.push(() => runner.stop());
  return { runner, results, last: () => results.at(-1) };
}

describe('CheckRunner against a real HTTP server', () => {
  it('flips when the server returns 500, 429, hangs past the timeout, and stops', async () => {
    const server = await TestHttpServer.start();
    cleanups.push(() => server.close());
    const { runner, last } = runnerFor({ HTTP: `${server.url}/h`, Interval: '100ms', Timeout: '300ms' });
    runner.start();
    await waitFor(() => last()?.status === 'passing', 'passing');
    server.mode = 500;
    await waitFor(() => last()?.status === 'critical', 'critical on 500');
    server.mode = 429;
    await waitFor(() => last()?.status === 'warning', 'warning on 429');
    server.mode = 'hang';
    await waitFor(() => last()?.status === 'critical', 'critical on a hang');
    expect(last()!.output).toMatch(/timed out after 300ms/);
    server.mode = 200;
    await waitFor(() => last()?.status === 'passing', 'passing again');
    await server.close();
    await waitFor(() => last()?.status === 'critical', 'critical once the server is gone');
    expect(last()!.output).toMatch(/ECONNREFUSED/);
  });

  it('damps flaps with FailuresBeforeCritical and SuccessBeforePassing', async () => {
    const server = await TestHttpServer.start();
    cleanups.push(() => server.close());
    const { runner, results } = runnerFor({
      HTTP: server.url,
      Interval: '100ms',
      FailuresBeforeCritical: 3,
      SuccessBeforePassing: 2,
    });
    runner.start();
    await waitFor(() => results.length > 0, 'a first result');
    // One bad answer between good ones is not enough to flip.
    server.mode = 500;
    const before = server.requests;
    await waitFor(() => server.requests >= before + 1, 'one failed probe');
    server.mode = 200;
    await waitFor(() => server.requests >= before + 4, 'more probes');
    expect(results.every((r) => r.status === 'passing')).toBe(true);
    // Sustained failure flips it, after three in a row.
    server.mode = 500;
    const failStart = server.requests;
    await waitFor(() => results.at(-1)?.status === 'critical', 'critical after three failures');
    expect(server.requests - failStart).toBeGreaterThanOrEqual(3);
  });
});

describe('CheckRunner with an exec check', () => {
  it('turns critical on timeout and kills the script with its children', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigil-runner-exec-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const pidFile = join(dir, 'pid');
    const { runner, last } = runnerFor({
      Args: ['sh', '-c', `sleep 60 & echo $! > ${pidFile}; echo started; wait`],
      Interval: '1h',
      Timeout: '300ms',
    });
    runner.start();
    const result = await waitFor(() => last(), 'the run to time out');
    expect(result.status).toBe('critical');
    expect(result.output).toBe(
      `exec sh -c sleep 60 & echo $! > ${pidFile}; echo started; wait: timed out after 300ms\nstarted\n`,
    );
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    await waitFor(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 'the background child to be killed');
  });
});

describe('CheckRunner lifecycle', () => {
  it('never overlaps runs, and stop() aborts the run in flight and clears the timer', async () => {
    // Virtual time: the probe takes 30 ms of it, the interval is 100 ms, and "no run after stop()"
    // is checked over 10 virtual seconds rather than a real sleep.
    const rt = new VirtualRuntime(3);
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    let aborted = 0;
    const runner = new CheckRunner({
      check: pollingCheckOf({ TCP: '127.0.0.1:1', Interval: '100ms', Timeout: '10s' }),
      onResult: () => {},
      runtime: rt,
      probe: (ctx) => {
        runs++;
        running++;
        maxRunning = Math.max(maxRunning, running);
        return new Promise((resolve) => {
          const t = rt.timers.after(30, () => {
            running--;
            resolve({ status: 'passing', output: '' });
          });
          ctx.signal.addEventListener('abort', () => {
            t.cancel();
            running--;
            aborted++;
            resolve({ status: 'critical', output: 'aborted' });
          });
        });
      },
    });
    const step = async (ms: number) => {
      for (let t = 0; t < ms; t += 5) {
        rt.advance(5);
        await new Promise((r) => setImmediate(r));
      }
    };
    runner.start();
    await step(350); // first run within 100 ms (stagger), then every 130 ms
    expect(runs).toBeGreaterThanOrEqual(3);
    rt.advance(10); // mid-run: stop() must abort it
    await runner.stop();
    const after = runs;
    expect(maxRunning).toBe(1);
    expect(running).toBe(0);
    await step(10_000);
    expect(runs).toBe(after);
    expect(aborted).toBeLessThanOrEqual(1);
  });

  it("keeps its timers in step with virtual time, up to Node's timer limit", async () => {
    const rt = new VirtualRuntime(1);
    const settle = () => new Promise((r) => setImmediate(r));
    let runs = 0;
    const runner = new CheckRunner({
      check: pollingCheckOf({ TCP: '127.0.0.1:1', Interval: '596h' }),
      onResult: () => {},
      firstDelayMs: 0,
      runtime: rt,
      probe: async () => {
        runs++;
        return { status: 'passing', output: '' };
      },
    });
    cleanups.push(() => runner.stop());
    runner.start();
    rt.advance(0);
    await settle();
    expect(runs).toBe(1);
    // A 596-hour interval runs once per 596 hours, not every millisecond.
    rt.advance(596 * 3_600_000 - 1);
    await settle();
    expect(runs).toBe(1);
    rt.advance(1);
    await settle();
    expect(runs).toBe(2);
    await runner.stop();
    rt.advance(10 * 596 * 3_600_000);
    await settle();
    expect(runs).toBe(2);
  });
});

describe('TtlClock', () => {
  it('expires after the TTL unless reset, and resumes a saved deadline', () => {
    const rt = new VirtualRuntime(1);
    const expired: number[] = [];
    const clock = new TtlClock(1000, () => expired.push(rt.clock.wallNow()), rt);
    cleanups.push(() => clock.stop());
    clock.reset();
    rt.advance(900);
    clock.reset();
    rt.advance(900);
    expect(expired).toHaveLength(0);
    rt.advance(100);
    expect(expired).toHaveLength(1);
    clock.resume(rt.clock.wallNow() + 500);
    rt.advance(499);
    expect(expired).toHaveLength(1);
    rt.advance(1);
    expect(expired).toHaveLength(2);
    clock.resume(rt.clock.wallNow() - 10); // a deadline that passed while the agent was down
    rt.advance(0);
    expect(expired).toHaveLength(3);
    clock.stop();
    rt.advance(10_000);
    expect(expired).toHaveLength(3);
    expect(ttlExpired('last words').output).toBe('TTL expired (last output before timeout follows): last words');
  });

  it('keeps a 24-day TTL for 24 days', () => {
    const rt = new VirtualRuntime(1);
    let expired = 0;
    const clock = new TtlClock(24 * 86_400_000, () => expired++, rt);
    cleanups.push(() => clock.stop());
    clock.reset(rt.clock.now());
    rt.advance(24 * 86_400_000 - 1);
    expect(expired).toBe(0);
    rt.advance(1);
    expect(expired).toBe(1);
  });
});
