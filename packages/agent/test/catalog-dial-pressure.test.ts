// Dial pressure is pure: a contention counter, times and draws in; how many dials may run out.

import { describe, expect, it } from 'vitest';
import { DialPlan, pairRank } from '../src/catalog/dial-plan.ts';
import { DialPressure } from '../src/catalog/dial-pressure.ts';

const OPTS = { windowMs: 500, maxShare: 0.5, trickleMs: 3_000 };
/** A draw of 0.5 makes the trickle gap exactly trickleMs. */
const half = { next: () => 0.5 };

/** A contention counter the test drives: `busy(ms)` adds ms in which our loop could not run. */
function counter() {
  let total = 0;
  return {
    source: () => total,
    busy: (ms: number) => {
      total += ms;
    },
  };
}

describe('DialPressure', () => {
  it('measures a window before the first dial, then lets dials go on a quiet loop', () => {
    const c = counter();
    const p = new DialPressure(c.source, half, OPTS);
    p.measure(0);
    expect(p.allowance(0)).toEqual({ maxInFlight: 0, recheckAt: 500 });
    c.busy(100); // 20 % of the window
    p.measure(500);
    expect(p.allowance(500)).toEqual({ maxInFlight: Number.POSITIVE_INFINITY });
  });

  it('on a starved loop, one dial at a time, trickleMs apart, re-judged every window', () => {
    const c = counter();
    const p = new DialPressure(c.source, half, OPTS);
    p.measure(0);
    c.busy(400); // 80 %: running or waiting for a CPU most of the window
    p.measure(500);
    expect(p.allowance(500)).toEqual({ maxInFlight: 1, recheckAt: 1_000 });
    p.started(500);
    c.busy(450);
    p.measure(1_000);
    // The next start waits 3 s; the window ends first, so look again then.
    expect(p.allowance(1_000)).toEqual({ maxInFlight: 0, recheckAt: 1_500 });
    for (let t = 1_500; t < 3_500; t += 500) {
      c.busy(300);
      p.measure(t);
      expect(p.allowance(t).maxInFlight).toBe(0);
    }
    c.busy(300);
    p.measure(3_500);
    expect(p.allowance(3_500)).toEqual({ maxInFlight: 1, recheckAt: 4_000 });
    // The pressure lifts: dials go at once, whatever the trickle said.
    p.started(3_500);
    c.busy(50);
    p.measure(4_000);
    expect(p.allowance(4_000)).toEqual({ maxInFlight: Number.POSITIVE_INFINITY });
  });

  it('jitters the trickle (×0.5-1.5), so starved agents do not dial in step', () => {
    const gaps = [0, 0.999].map((draw) => {
      const c = counter();
      const p = new DialPressure(c.source, { next: () => draw }, OPTS);
      p.measure(0);
      c.busy(500);
      p.measure(500);
      p.started(500);
      let t = 500;
      while (p.allowance(t).maxInFlight === 0 || t === 500) {
        t += 10;
        c.busy(10);
        p.measure(t);
      }
      return t - 500;
    });
    expect(gaps[0]).toBeGreaterThanOrEqual(1_500);
    expect(gaps[0]).toBeLessThan(1_600);
    expect(gaps[1]).toBeGreaterThanOrEqual(4_490);
  });

  it('a stale sample is not judged: an idle minute does not dilute a stall that just began', () => {
    const c = counter();
    const p = new DialPressure(c.source, half, OPTS);
    p.measure(0);
    p.measure(500);
    expect(p.allowance(500).maxInFlight).toBe(Number.POSITIVE_INFINITY);
    c.busy(1_000); // a second of contention at the end of a quiet minute
    p.measure(60_000);
    expect(p.allowance(60_000)).toEqual({ maxInFlight: 0, recheckAt: 60_500 });
    c.busy(450);
    p.measure(60_500);
    expect(p.allowance(60_500).maxInFlight).toBe(1);
  });

  it('caps the plan: with one dial in flight a pressured step starts none and says it held one back', () => {
    const plan = new DialPlan('0', {
      dialDegree: 3,
      redialIntervalMs: 1_000,
      settleMs: 0,
      maxSettleMs: 0,
      maxConcurrentDials: 2,
      maxBackoffMs: 30_000,
    });
    const peers = ['a', 'b', 'c'].map((id) => ({ peerId: id, rank: pairRank('0', id) }));
    const first = plan.next(peers, new Set(), 0, 1);
    expect(first).toMatchObject({ kind: 'dial', limited: true });
    expect(first.kind === 'dial' && first.peers.length).toBe(1);
    expect(plan.next(peers, new Set(), 10, 1)).toEqual({ kind: 'dial', peers: [], limited: true });
    // Unlimited: the plan's own bound (2 in flight) applies, and nothing is reported held.
    const free = plan.next(peers, new Set(), 20);
    expect(free.kind === 'dial' && free.peers.length).toBe(1);
    expect(free).not.toHaveProperty('limited');
  });
});
