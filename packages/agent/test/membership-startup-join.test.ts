import { describe, expect, it } from 'vitest';
import type { Address } from '../src/membership/address.ts';
import { type JoinResult, StartupJoin } from '../src/membership/startup-join.ts';
import { VirtualRuntime } from '../src/runtime/index.ts';

const seed: Address = { host: '127.0.0.1', port: 7946 };
const settle = () => new Promise<void>((r) => setImmediate(r));

/** A StartupJoin on virtual time whose attempts fail until `succeedAt` attempts were made. */
function harness(succeedAt: number) {
  const rt = new VirtualRuntime(1);
  const attempts: number[] = [];
  const join = async (): Promise<JoinResult> => {
    attempts.push(rt.clock.now());
    return attempts.length >= succeedAt ? { joined: 1, errors: [] } : { joined: 0, errors: ['refused'] };
  };
  const startup = new StartupJoin(join, rt.timers);
  /** Virtual seconds pass, letting each attempt's promise settle before the next timer. */
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      rt.advance(100);
      await settle();
    }
  };
  return { rt, attempts, startup, run };
}

describe('StartupJoin', () => {
  it('retries with backoff from 1 s, doubling to at most 30 s, until a member answers', async () => {
    const { attempts, startup, run } = harness(9);
    const first = await startup.run([seed]);
    expect(first).toEqual({ joined: 0, errors: ['refused'] });
    await run(200_000);
    const gaps = attempts.slice(1).map((at, i) => Math.round((at - attempts[i]!) / 100) * 100);
    expect(gaps).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    expect(attempts).toHaveLength(9);
  });

  it('does not retry after a first join that reached a member', async () => {
    const { attempts, startup, run } = harness(1);
    expect((await startup.run([seed])).joined).toBe(1);
    await run(10_000);
    expect(attempts).toHaveLength(1);
  });

  it('does not retry when there was nowhere to go (no seeds, no snapshot)', async () => {
    const rt = new VirtualRuntime(1);
    let calls = 0;
    const startup = new StartupJoin(async () => {
      calls++;
      return { joined: 0, errors: [] };
    }, rt.timers);
    await startup.run([]);
    rt.advance(10_000);
    await settle();
    expect(calls).toBe(1);
  });

  it('stops retrying once cancelled', async () => {
    const { attempts, startup, run } = harness(100);
    await startup.run([seed]);
    await run(3_500);
    expect(attempts).toHaveLength(3);
    startup.cancel();
    await run(120_000);
    expect(attempts).toHaveLength(3);
  });
});
