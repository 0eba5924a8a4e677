import { describe, expect, it } from 'vitest';
import { type BreakerOptions, DEFAULT_BREAKER_OPTIONS, EndpointBreaker, NO_PERMIT } from '../src/breaker.ts';

const opts = (o: Partial<BreakerOptions> = {}): BreakerOptions => ({
  ...DEFAULT_BREAKER_OPTIONS,
  consecutiveFailures: 3,
  minimumRequests: 10,
  failureRateThreshold: 0.5,
  windowMs: 10_000,
  baseEjectionMs: 1_000,
  maxEjectionMs: 3_500,
  ejectionDecayMs: 10_000,
  ...o,
});

function fail(b: EndpointBreaker, now: number, n = 1): void {
  for (let i = 0; i < n; i++) b.failure(b.acquire(now), now);
}
function succeed(b: EndpointBreaker, now: number, n = 1): void {
  for (let i = 0; i < n; i++) b.success(b.acquire(now), now);
}

describe('endpoint breaker', () => {
  it('opens after N consecutive failures; a success in between resets the run', () => {
    const b = new EndpointBreaker(opts(), 0);
    fail(b, 1, 2);
    succeed(b, 2);
    fail(b, 3, 2);
    expect(b.state(4)).toBe('closed');
    fail(b, 5);
    expect(b.state(6)).toBe('open');
    expect(b.usable(6)).toBe(false);
    expect(b.acquire(6)).toBe(NO_PERMIT);
  });

  it('opens on the failure rate over the window only with the minimum volume', () => {
    const b = new EndpointBreaker(opts({ consecutiveFailures: 100 }), 0);
    // 4 failures of 8 calls: 50%, but below the minimum of 10 calls.
    for (let i = 0; i < 4; i++) {
      succeed(b, i * 10);
      fail(b, i * 10 + 5);
    }
    expect(b.state(100)).toBe('closed');
    succeed(b, 110);
    fail(b, 120); // 5 of 10
    expect(b.state(121)).toBe('open');
  });

  it('forgets failures that left the window', () => {
    const b = new EndpointBreaker(opts({ consecutiveFailures: 100 }), 0);
    fail(b, 0, 5);
    succeed(b, 15_000, 4);
    fail(b, 15_001); // the early failures are out of the 10s window: 1 of 5 calls
    expect(b.state(15_002)).toBe('closed');
  });

  it('ejects for base × ejections (capped), and the count decays while healthy', () => {
    const b = new EndpointBreaker(opts(), 0);
    let t = 0;
    const trip = () => {
      fail(b, t, 3);
      expect(b.state(t)).toBe('open');
    };
    const openFor = () => b.snapshot(t).openForMs;
    trip();
    expect(openFor()).toBe(1_000);
    t += 1_000;
    expect(b.state(t)).toBe('half-open');
    fail(b, t); // the trial fails: second ejection
    expect(openFor()).toBe(2_000);
    t += 2_000;
    fail(b, t);
    expect(openFor()).toBe(3_000);
    t += 3_000;
    fail(b, t);
    expect(openFor()).toBe(3_500); // capped at maxEjectionMs
    t += 3_500;
    succeed(b, t); // trial succeeds: closed, ejection count still 4
    expect(b.state(t)).toBe('closed');
    expect(b.snapshot(t).ejections).toBe(4);
    t += 25_000; // two decay periods healthy: 4 → 2, then this trip makes 3
    trip();
    expect(b.snapshot(t).ejections).toBe(3);
    expect(openFor()).toBe(3_000);
  });

  it('admits exactly halfOpenMaxCalls trials and closes after halfOpenSuccesses', () => {
    const b = new EndpointBreaker(opts({ halfOpenMaxCalls: 3, halfOpenSuccesses: 2 }), 0);
    fail(b, 0, 3);
    const permits = Array.from({ length: 10 }, () => b.acquire(1_000));
    const admitted = permits.filter((p) => p !== NO_PERMIT);
    expect(admitted).toHaveLength(3);
    expect(b.usable(1_000)).toBe(false);
    b.success(admitted[0]!, 1_001);
    expect(b.state(1_001)).toBe('half-open');
    expect(b.usable(1_001)).toBe(true); // a slot is free again
    b.success(admitted[1]!, 1_002);
    expect(b.state(1_002)).toBe('closed');
    b.failure(admitted[2]!, 1_003); // a trial from the finished half-open period: no effect
    expect(b.state(1_003)).toBe('closed');
    expect(b.snapshot(1_003).consecutiveFailures).toBe(0);
  });

  it('reopens on a trial failure, ignores late results of the old period, and frees slots on release', () => {
    const b = new EndpointBreaker(opts({ halfOpenMaxCalls: 2 }), 0);
    fail(b, 0, 3);
    const a = b.acquire(1_000);
    const c = b.acquire(1_000);
    b.release(a);
    expect(b.usable(1_000)).toBe(true);
    b.failure(c, 1_001);
    expect(b.state(1_001)).toBe('open');
    b.success(b.acquire(1_001), 1_001); // NO_PERMIT while open: ignored
    expect(b.state(1_002)).toBe('open');
  });

  it('reports its transitions', () => {
    const b = new EndpointBreaker(opts(), 0);
    const seen: string[] = [];
    b.onTransition = (from, to) => seen.push(`${from}>${to}`);
    fail(b, 0, 3);
    b.state(1_000);
    succeed(b, 1_000);
    expect(seen).toEqual(['closed>open', 'open>half-open', 'half-open>closed']);
  });
});
