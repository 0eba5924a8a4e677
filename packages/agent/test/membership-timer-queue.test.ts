import { describe, expect, it } from 'vitest';
import { TimerQueue } from '../src/membership/timer-queue.ts';

describe('TimerQueue', () => {
  it('fires due timers in deadline order, ties in the order they were set', () => {
    const q = new TimerQueue();
    const fired: string[] = [];
    q.set(300, () => fired.push('c'));
    q.set(100, () => fired.push('a1'));
    q.set(200, () => fired.push('b'));
    q.set(100, () => fired.push('a2'));
    q.set(400, () => fired.push('d'));
    expect(q.next()).toBe(100);
    q.runDue(300);
    expect(fired).toEqual(['a1', 'a2', 'b', 'c']);
    expect(q.next()).toBe(400);
  });

  it('passes the current time, and fires timers that firing sets when they are already due', () => {
    const q = new TimerQueue();
    const fired: [string, number][] = [];
    q.set(100, (now) => {
      fired.push(['first', now]);
      q.set(now, (t) => fired.push(['chained', t]));
      q.set(now + 500, (t) => fired.push(['later', t]));
    });
    q.runDue(200);
    expect(fired).toEqual([
      ['first', 200],
      ['chained', 200],
    ]);
    expect(q.next()).toBe(700);
  });

  it('skips cancelled timers, including one at the head, and ignores unknown ids', () => {
    const q = new TimerQueue();
    const fired: string[] = [];
    const a = q.set(100, () => fired.push('a'));
    q.set(200, () => fired.push('b'));
    const c = q.set(300, () => fired.push('c'));
    q.cancel(a);
    q.cancel(c);
    q.cancel(undefined);
    q.cancel(999);
    expect(q.next()).toBe(200);
    q.runDue(1000);
    expect(fired).toEqual(['b']);
    expect(q.next()).toBeUndefined();
  });

  it('keeps order over many random deadlines', () => {
    const q = new TimerQueue();
    const fired: number[] = [];
    let x = 12345;
    for (let i = 0; i < 2000; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      const at = x % 10_000;
      q.set(at, () => fired.push(at));
    }
    q.runDue(5000);
    expect(fired.length).toBeGreaterThan(0);
    expect(fired.every((t, i) => i === 0 || fired[i - 1]! <= t)).toBe(true);
    expect(fired.every((t) => t <= 5000)).toBe(true);
    expect(q.next()).toBeGreaterThan(5000);
  });
});
