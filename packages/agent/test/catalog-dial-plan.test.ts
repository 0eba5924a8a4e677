// The dial plan is pure: these are its rules, each checked with explicit times.

import { describe, expect, it } from 'vitest';
import { DialPlan, hangUps, pairRank } from '../src/catalog/dial-plan.ts';

const OPTS = {
  dialDegree: 2,
  redialIntervalMs: 1_000,
  settleMs: 1_000,
  maxSettleMs: 5_000,
  maxConcurrentDials: 2,
  maxBackoffMs: 30_000,
};

const peer = (self: string, peerId: string) => ({ peerId, rank: pairRank(self, peerId) });
const ids = (step: ReturnType<DialPlan['next']>) => (step.kind === 'dial' ? step.peers.map((p) => p.peerId) : step);

describe('DialPlan', () => {
  it('holds dials back while the peer set grows, at most maxSettleMs', () => {
    const plan = new DialPlan('a', OPTS);
    const peers = [peer('a', 'b')];
    plan.peersChanged(new Set(['b']), true, 0);
    expect(plan.next(peers, new Set(), 500)).toEqual({ kind: 'settle', at: 1_000 });
    // Still growing every 900 ms: the wait ends at 5 s whatever happens.
    for (let t = 900; t < 5_000; t += 900) plan.peersChanged(new Set(['b']), true, t);
    expect(plan.next(peers, new Set(), 4_999)).toEqual({ kind: 'settle', at: 5_000 });
    expect(ids(plan.next(peers, new Set(), 5_000))).toEqual(['b']);
  });

  it('dials the dialDegree lowest-ranked peers, never one already connected or in flight', () => {
    const self = 'a';
    const peers = ['b', 'c', 'd', 'e'].map((p) => peer(self, p));
    const plan = new DialPlan(self, { ...OPTS, settleMs: 0 });
    const wanted = [...peers].sort((x, y) => (x.rank < y.rank ? -1 : 1)).slice(0, 2);
    expect(ids(plan.next(peers, new Set(), 0))).toEqual(wanted.map((p) => p.peerId));
    // Both in flight: nothing more to do, even though two peers are unconnected.
    expect(ids(plan.next(peers, new Set(), 10))).toEqual([]);
    plan.dialDone(wanted[0]!.peerId, true, 20);
    expect(ids(plan.next(peers, new Set([wanted[0]!.peerId]), 30))).toEqual([]);
  });

  it('backs a failed peer off, doubling up to the cap', () => {
    const plan = new DialPlan('a', { ...OPTS, settleMs: 0 });
    const peers = [peer('a', 'b')];
    // failure n waits redialInterval * 2^n: 2 s, 4 s, 8 s, 16 s, then the 30 s cap
    let t = 0;
    for (const wait of [2_000, 4_000, 8_000, 16_000, 30_000, 30_000]) {
      expect(ids(plan.next(peers, new Set(), t))).toEqual(['b']);
      plan.dialDone('b', false, t);
      expect(ids(plan.next(peers, new Set(), t + wait - 1))).toEqual([]);
      t += wait;
    }
    expect(ids(plan.next(peers, new Set(), t))).toEqual(['b']);
    plan.dialDone('b', true, t);
    plan.connected('b');
    // A success resets the count: the next failure waits 2 s again.
    expect(ids(plan.next(peers, new Set(), t + 1))).toEqual(['b']);
    plan.dialDone('b', false, t + 1);
    expect(ids(plan.next(peers, new Set(), t + 2_000))).toEqual([]);
    expect(ids(plan.next(peers, new Set(), t + 2_001))).toEqual(['b']);
  });

  it('lets the lower peer id of a pair dial first; the higher one waits a redial interval', () => {
    const low = new DialPlan('a', { ...OPTS, settleMs: 0 });
    const high = new DialPlan('b', { ...OPTS, settleMs: 0 });
    expect(ids(low.next([peer('a', 'b')], new Set(), 0))).toEqual(['b']);
    expect(ids(high.next([peer('b', 'a')], new Set(), 0))).toEqual([]);
    expect(ids(high.next([peer('b', 'a')], new Set(), 999))).toEqual([]);
    expect(ids(high.next([peer('b', 'a')], new Set(), 1_000))).toEqual(['a']);
  });

  it('says when a held-back peer may be dialled, and asks for no timer once all are connected', () => {
    // The catalog arms a redial timer only for retryAt: an idle, connected agent wakes for none.
    const retryAt = (step: ReturnType<DialPlan['next']>) => (step.kind === 'dial' ? step.retryAt : 'settle');
    const high = new DialPlan('b', { ...OPTS, settleMs: 0 });
    expect(retryAt(high.next([peer('b', 'a')], new Set(), 100))).toBe(1_100); // the tie-break wait
    const plan = new DialPlan('a', { ...OPTS, settleMs: 0 });
    const peers = [peer('a', 'b'), peer('a', 'c')];
    expect(retryAt(plan.next(peers, new Set(), 0))).toBeUndefined();
    plan.dialDone('b', false, 10);
    plan.dialDone('c', false, 20);
    plan.dialDone('c', false, 30); // c's second failure: it waits longer than b
    expect(retryAt(plan.next(peers, new Set(), 40))).toBe(2_010);
    expect(ids(plan.next(peers, new Set(), 2_010))).toEqual(['b']);
    plan.dialDone('b', true, 2_020);
    plan.connected('b');
    expect(retryAt(plan.next(peers, new Set(['b']), 2_030))).toBe(4_030);
    expect(retryAt(plan.next(peers, new Set(['b', 'c']), 2_040))).toBeUndefined();
  });

  it('hangs up on peers that left the set and on connected strangers', () => {
    expect([...hangUps(['b', 'c'], new Set(['b']), ['b', 'x'])].sort()).toEqual(['c', 'x']);
    expect(pairRank('a', 'b')).toBe(pairRank('b', 'a'));
  });
});
