import { describe, expect, it } from 'vitest';
import { type ContentionInputs, loopContention, procReader } from '../src/membership/loop-contention.ts';

// The figure that lets LoopStallMeter sleep: ELU's busy ms plus schedstat's run-queue wait.

describe('loopContention', () => {
  const inputs = (over: Partial<ContentionInputs>): ContentionInputs => ({
    platform: 'linux',
    read: () => '5000000 40000000 7\n',
    activeMs: () => 3,
    ...over,
  });

  it("on Linux, adds the thread's run-queue wait (schedstat field 2, ns) to the loop's busy time", () => {
    const read: string[] = [];
    const source = loopContention(
      inputs({
        read: (path) => {
          read.push(path);
          return '5000000 40000000 7\n';
        },
      }),
    );
    expect(source?.()).toBe(3 + 40);
    expect(read.at(-1)).toBe('/proc/thread-self/schedstat');
  });

  it('is absent elsewhere, or without a readable schedstat: the meter then always samples', () => {
    expect(loopContention(inputs({ platform: 'darwin' }))).toBeUndefined();
    const missing = () => {
      throw new Error('ENOENT');
    };
    expect(loopContention(inputs({ read: missing }))).toBeUndefined();
    expect(loopContention(inputs({ read: () => 'garbage' }))).toBeUndefined();
  });

  it.runIf(process.platform === 'linux')('reads this thread for real, and never goes backwards', () => {
    const source = loopContention()!;
    const first = source();
    expect(Number.isFinite(first)).toBe(true);
    expect(source()).toBeGreaterThanOrEqual(first);
  });

  it.runIf(process.platform === 'linux')('re-reads a /proc file afresh through its kept descriptor', () => {
    const read = procReader();
    const cpuNs = () => Number(read('/proc/thread-self/schedstat').split(' ')[0]);
    const before = cpuNs();
    const until = performance.now() + 20;
    while (performance.now() < until) {
      // burn this thread's CPU so its schedstat must move
    }
    expect(cpuNs()).toBeGreaterThan(before);
  });
});
