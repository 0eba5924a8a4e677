import { describe, expect, it } from 'vitest';
import { PROFILES, pushPullScaleMs, retransmitLimit, suspicionTimeoutMs } from '../src/membership/profiles.ts';
import { Suspicion } from '../src/membership/suspicion.ts';

// Lifeguard's dynamic suspicion timeout (LHA-Suspicion) and memberlist's derived timings, checked
// against the table in reference/membership-anchors.md section 1.2.

const lan = PROFILES.lan;

function suspicionFor(n: number, startedAt = 1000) {
  const minMs = suspicionTimeoutMs(lan.suspicionMult, n, lan.probeIntervalMs);
  const maxMs = lan.suspicionMaxTimeoutMult * minMs;
  const k = lan.suspicionMult - 2;
  return { s: new Suspicion({ from: 'accuser', startedAt, k, minMs, maxMs }), minMs, maxMs, startedAt };
}

describe('Suspicion with our own refused connect (confirmation rule 6)', () => {
  it('ends refusalMs after the refusal once confirmed, never later than Lifeguard would', () => {
    const minMs = suspicionTimeoutMs(lan.suspicionMult, 50, lan.probeIntervalMs);
    const base = { from: 'us', startedAt: 1000, k: 2, minMs, maxMs: 6 * minMs, refusalMs: 4000 };
    const s = new Suspicion(base);
    s.noteRefusal(1000);
    // Alone: Lifeguard's longest timeout (and the lone suspicion's rechecks after it).
    expect(s.deadline()).toBe(1000 + Math.floor(6 * minMs));
    s.confirm('b');
    expect(s.deadline()).toBe(5000);
    // An earlier refusal (a probe whose result a stall delayed) counts from its own time.
    s.noteRefusal(600);
    s.noteRefusal(900);
    expect(s.deadline()).toBe(4600);
    // Without a refusal of ours, or with the rule off, a confirmed suspicion keeps Lifeguard's.
    const silence = new Suspicion(base);
    silence.confirm('b');
    const off = new Suspicion({ ...base, refusalMs: undefined });
    off.noteRefusal(1000);
    off.confirm('b');
    expect(silence.deadline()).toBe(off.deadline());
    expect(off.deadline()).toBeGreaterThan(1000 + minMs);
    // A very long refusal window never outlasts Lifeguard's own deadline.
    const long = new Suspicion({ ...base, refusalMs: 60 * minMs });
    long.noteRefusal(1000);
    long.confirm('b');
    expect(long.deadline()).toBe(off.deadline());
  });
});

describe('Suspicion (Lifeguard dynamic timeout, k = 2)', () => {
  it('waits the max with no confirmation, the log-interpolated value after one, the min after two', () => {
    const { s, minMs, maxMs, startedAt } = suspicionFor(10);
    expect([minMs, maxMs]).toEqual([4000, 24_000]);
    expect(s.deadline() - startedAt).toBe(24_000);
    expect(s.confirm('b')).toBe(true);
    // max - (max - min) * ln(2) / ln(3) = 24 - 20 * 0.6309 = 11.38 s
    expect(s.deadline() - startedAt).toBe(Math.floor(24_000 - 20_000 * (Math.log(2) / Math.log(3))));
    expect(s.deadline() - startedAt).toBeCloseTo(11_381, -1);
    expect(s.confirm('c')).toBe(true);
    expect(s.deadline() - startedAt).toBe(4000);
    expect(s.confirm('d')).toBe(true);
    expect(s.deadline() - startedAt).toBe(4000); // never below the min
    expect(s.observerCount()).toBe(4);
  });

  it('counts each observer once, the accuser included', () => {
    const { s, startedAt } = suspicionFor(10);
    expect(s.confirm('accuser')).toBe(false);
    expect(s.confirm('b')).toBe(true);
    expect(s.confirm('b')).toBe(false);
    expect(s.observerCount()).toBe(2);
    expect(s.deadline() - startedAt).toBeCloseTo(11_381, -1);
  });

  it('matches the anchor table at N = 100, 1,000 and 10,000', () => {
    // [N, min s, max s, after one confirmation s] as the anchors give them (rounded to 0.1 s).
    const anchors = [
      [100, 8, 48, 22.8],
      [1000, 12, 72, 34.2],
      [10_000, 16, 96, 45.6],
    ] as const;
    for (const [n, min, max, afterOne] of anchors) {
      const { s, minMs, maxMs, startedAt } = suspicionFor(n, 0);
      expect([minMs, maxMs]).toEqual([min * 1000, max * 1000]);
      s.confirm('b');
      expect(Math.abs((s.deadline() - startedAt) / 1000 - afterOne)).toBeLessThanOrEqual(0.1);
    }
  });

  it('wants confirmations (worth re-gossiping) only until the timeout bottoms out', () => {
    const { s } = suspicionFor(10);
    expect(s.wantsConfirmations()).toBe(true);
    s.confirm('b');
    expect(s.wantsConfirmations()).toBe(true);
    s.confirm('c'); // k = 2 confirmations: at the min, memberlist stops here
    expect(s.wantsConfirmations()).toBe(false);
    // With k = 0 the timeout starts at the min, but one confirmation still makes it "confirmed".
    const small = new Suspicion({ from: 'a', startedAt: 0, k: 0, minMs: 4000, maxMs: 24_000 });
    expect(small.wantsConfirmations()).toBe(true);
    small.confirm('b');
    expect(small.wantsConfirmations()).toBe(false);
  });

  it('uses the min at once when k is 0 (too few members to confirm)', () => {
    const s = new Suspicion({ from: 'a', startedAt: 500, k: 0, minMs: 4000, maxMs: 24_000 });
    expect(s.deadline()).toBe(4500);
  });
});

describe('memberlist timing formulas (util.go)', () => {
  it('suspicion min = mult x max(1, log10 N) x interval', () => {
    expect(suspicionTimeoutMs(4, 1, 1000)).toBe(4000);
    expect(suspicionTimeoutMs(4, 5, 1000)).toBe(4000);
    expect(suspicionTimeoutMs(4, 10, 1000)).toBe(4000);
    expect(suspicionTimeoutMs(4, 20, 1000)).toBeCloseTo(5204, 0);
    expect(suspicionTimeoutMs(4, 50, 1000)).toBeCloseTo(6796, 0);
    expect(suspicionTimeoutMs(6, 100, 5000)).toBe(60_000); // WAN
  });

  it('retransmits = mult x ceil(log10(N + 1))', () => {
    expect([5, 10, 100, 1000, 10_000].map((n) => retransmitLimit(4, n))).toEqual([4, 8, 12, 16, 20]);
  });

  it('push/pull period grows with log2 N beyond 32 nodes', () => {
    expect([5, 32, 33, 100, 1000, 10_000].map((n) => pushPullScaleMs(30_000, n) / 1000)).toEqual([
      30, 30, 60, 90, 180, 300,
    ]);
  });
});
