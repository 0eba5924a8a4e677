import { describe, expect, it } from 'vitest';
import { ChangeFeed } from '../src/events/change-feed.ts';
import { VirtualRuntime } from '../src/runtime/index.ts';

/** When a pending waitForChange settles, in virtual ms from the call (undefined: still pending). */
async function settleAt(rt: VirtualRuntime, step: number, limit: number, wait: Promise<void>) {
  let done = false;
  void wait.then(() => {
    done = true;
  });
  for (let t = 0; t <= limit; t += step) {
    await Promise.resolve();
    if (done) return t;
    rt.advance(step);
  }
  await Promise.resolve();
  return done ? limit : undefined;
}

describe('ChangeFeed.waitForChange', () => {
  it('returns at once when the index has already passed', async () => {
    const feed = new ChangeFeed(1, 16, new VirtualRuntime(1));
    feed.publish('x', {});
    expect(feed.waiting()).toBe(0);
    await feed.waitForChange(1, 60_000);
    expect(feed.waiting()).toBe(0);
  });

  it('returns on the next change, before the wait ends', async () => {
    const rt = new VirtualRuntime(1);
    const feed = new ChangeFeed(1, 16, rt);
    const wait = feed.waitForChange(feed.index(), 60_000, undefined, 3750);
    expect(feed.waiting()).toBe(1);
    rt.advance(1000);
    feed.publish('x', {});
    expect(await settleAt(rt, 100, 1000, wait)).toBe(0);
    expect(feed.waiting()).toBe(0);
  });

  it('times out after the wait plus a jitter drawn from the runtime, the same for one seed', async () => {
    const ends = [];
    for (const seed of [1, 1, 2, 3, 4]) {
      const rt = new VirtualRuntime(seed);
      const feed = new ChangeFeed(1, 16, rt);
      ends.push(await settleAt(rt, 10, 70_000, feed.waitForChange(feed.index(), 60_000, undefined, 3750)));
    }
    for (const end of ends) {
      expect(end).toBeGreaterThanOrEqual(60_000);
      expect(end).toBeLessThanOrEqual(63_760);
    }
    expect(ends[0]).toBe(ends[1]);
    expect(new Set(ends).size).toBeGreaterThan(2);
  });
});
