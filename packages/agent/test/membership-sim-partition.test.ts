import { describe, expect, it } from 'vitest';
import { PROFILES } from '../src/membership/profiles.ts';
import { convergedCluster, seconds, table } from './helpers/membership-sim.ts';

// Partitions heal on their own (issue 3): after a split long enough for each side to declare the
// other dead, Serf-style reconnect (every 30 s, re-join one failed member with probability
// failed/alive) merges the views again once the network is back, with no manual join.

describe('a 50/50 partition (simulator)', () => {
  it('is seen as dead across the split, and heals on its own after it ends', { timeout: 60_000 }, () => {
    const n = 100;
    const { sim, names } = convergedCluster(n, { seed: 4242 });
    const left = names.slice(0, n / 2);
    const right = names.slice(n / 2);
    const side = new Map(names.map((name, i) => [name, i < n / 2 ? 'left' : 'right']));
    const wrongVerdicts: string[] = [];
    sim.onEvent((e) => {
      if (e.type === 'dead' && side.get(e.observer) === side.get(e.member.name)) {
        wrongVerdicts.push(`${e.observer} -> ${e.member.name} @${e.at}`);
      }
    });

    const splitAt = sim.now;
    sim.partition([left, right]);
    sim.run(120_000);

    const seesDead = (observers: string[], members: string[]) =>
      observers.every((o) => members.every((m) => sim.node(o).engine.member(m)?.status === 'dead'));
    expect(seesDead(left, right), 'the left side declared every right member dead').toBe(true);
    expect(seesDead(right, left), 'the right side declared every left member dead').toBe(true);
    const lastCrossVerdict = Math.max(
      ...sim.events.filter((e) => e.type === 'dead' && e.at >= splitAt).map((e) => e.at),
    );

    sim.heal(); // the network only: nobody is told to join
    const healedAt = sim.now;
    const bound = 3 * PROFILES.lan.reconnectIntervalMs;
    const took = sim.runUntil(() => sim.converged(), bound, 500);

    console.log(
      table(
        `N = ${n} split 50/50 for 120 s, then healed (virtual seconds)`,
        ['all cross-side dead after split', 'views converged after heal', 'bound'],
        [[seconds(lastCrossVerdict - splitAt), took === undefined ? 'never' : seconds(took), seconds(bound)]],
      ),
    );
    expect(took, `one view within ${bound / 1000} s of the heal`).toBeDefined();
    expect(wrongVerdicts, 'nobody declared a member of its own side dead').toEqual([]);
    // Every node is back to seeing all 100 alive.
    for (const name of names) expect(sim.node(name).engine.counts().alive).toBe(n);
    expect(sim.now - healedAt).toBeLessThanOrEqual(bound);
  });
});
