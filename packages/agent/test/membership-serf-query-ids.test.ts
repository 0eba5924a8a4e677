// Query ids come from the injected Random (the runtime seam), so a simulated run replays them.

import { decodeSerfMessage } from '@vigil/protocol';
import { describe, expect, it } from 'vitest';
import { SerfQueries } from '../src/membership/serf-queries.ts';
import { mulberry32 } from '../src/sim/random.ts';

function asker(random: () => number) {
  const gossip: Uint8Array[] = [];
  const timers: (() => void)[] = [];
  const queries = new SerfQueries({
    name: 'a',
    tags: () => ({}),
    address: () => ({ host: '127.0.0.1', port: 7946 }),
    aliveMembers: () => ['a'],
    addressOf: () => undefined,
    gossipIntervalMs: 200,
    broadcast: (payload) => gossip.push(payload),
    sendTo: () => {},
    relayTargets: () => [],
    now: () => 0,
    setTimer: (_ms, fn) => {
      timers.push(fn);
      return { cancel: () => {} };
    },
    random: { next: random },
  });
  return { queries, gossip, timers };
}

describe('SerfQueries ids', () => {
  it('are drawn from the injected Random: the same seed gives the same ids', async () => {
    const ids = (seed: number) => {
      const { queries, gossip, timers } = asker(mulberry32(seed));
      for (let i = 0; i < 3; i++) void queries.query('q', new Uint8Array(0), { timeoutMs: 1_000 });
      for (const t of timers) t();
      return gossip.map((p) => {
        const m = decodeSerfMessage(p);
        return m.type === 'query' ? m.id : -1;
      });
    };
    const draw = mulberry32(5);
    expect(ids(5)).toEqual([0, 1, 2].map(() => Math.floor(draw() * 2 ** 31)));
    expect(ids(5)).toEqual(ids(5));
    expect(ids(6)).not.toEqual(ids(5));
  });
});
