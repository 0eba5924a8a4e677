import { describe, expect, it } from 'vitest';
import { clampDelay, MAX_TIMER_MS, realRuntime, VirtualRuntime } from '../src/runtime/index.ts';

describe('runtime seam', () => {
  it('clamps delays: negative, NaN and past-the-limit values never reach setTimeout as such', () => {
    expect(clampDelay(-5)).toBe(0);
    expect(clampDelay(Number.NaN)).toBe(0);
    expect(clampDelay(10)).toBe(10);
    expect(clampDelay(1e12)).toBe(MAX_TIMER_MS);
  });

  it('virtual timers fire in deadline order only when the clock is advanced', () => {
    const rt = new VirtualRuntime(1);
    const fired: string[] = [];
    rt.timers.after(20, () => fired.push('b'));
    rt.timers.after(10, () => fired.push('a'));
    const c = rt.timers.after(15, () => fired.push('cancelled'));
    c.cancel();
    rt.advance(9);
    expect(fired).toEqual([]);
    rt.advance(11);
    expect(fired).toEqual(['a', 'b']);
    expect(rt.clock.now()).toBe(20);
  });

  it('forks share one world clock with their own seeds and offsets', () => {
    const rt = new VirtualRuntime(7);
    const a = rt.fork(0);
    const b = rt.fork(250);
    let at = -1;
    a.timers.after(100, () => {
      at = b.clock.now();
    });
    rt.advance(100);
    expect(at).toBe(350);
    expect(a.random.next()).not.toBe(b.random.next());
    expect(new VirtualRuntime(7).fork(0).random.next()).toBe(new VirtualRuntime(7).fork(0).random.next());
  });

  it('a real timer never runs before its deadline on the runtime clock', async () => {
    // Engines compare their deadlines with clock.now(): a callback run early finds nothing due and
    // arms a 0 ms timer to try again, a second wake-up for every timer. Fractional delays, as
    // engines compute them, are the case where Node's whole-millisecond loop clock fires early.
    const rt = realRuntime();
    const early: number[] = [];
    let fired = 0;
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => {
        const due = rt.clock.now() + 1.3 + i * 0.7;
        return new Promise<void>((resolve) => {
          const keep = setTimeout(() => {}, 1000); // real timers are unref'd; hold the loop open
          rt.timers.after(due - rt.clock.now(), () => {
            fired++;
            const lead = due - rt.clock.now();
            if (lead > 0) early.push(lead);
            clearTimeout(keep);
            resolve();
          });
        });
      }),
    );
    expect(fired).toBe(40);
    expect(early).toEqual([]);
  });

  it('a real timer with a delay past the limit is armed without a warning and can be cancelled', () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    const rt = realRuntime();
    const t = rt.timers.after(MAX_TIMER_MS * 3, () => {
      throw new Error('must not fire');
    });
    const n = rt.timers.after(-100, () => {});
    t.cancel();
    n.cancel();
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        process.off('warning', onWarning);
        expect(warnings.map((w) => w.name)).toEqual([]);
        resolve();
      }),
    );
  });
});
