import { describe, expect, it } from 'vitest';
import { convergedCluster, median, seconds, table } from './helpers/membership-sim.ts';

// A member frozen for 3 s (SIGSTOP, a long GC pause) and then resumed, as in the membership
// benchmark (issue 3): the others may demote it while it is silent (confirmed suspect), but no one
// may declare anyone dead, and the demotion must be undone about a second after it resumes.

const PAUSE_MS = 3000;
const SEEDS = 5;

function pauseOnce(n: number, seed: number) {
  const { sim, names } = convergedCluster(n, { seed }, 5000);
  const frozen = names[seed % n]!;
  const others = names.filter((x) => x !== frozen);
  const dead: string[] = [];
  let demoted = 0;
  sim.onEvent((e) => {
    if (e.type === 'dead') dead.push(`${e.observer} -> ${e.member.name}`);
    if (e.type === 'confirmed' && e.member.name === frozen) demoted++;
  });
  sim.pause(frozen, PAUSE_MS);
  sim.run(PAUSE_MS);
  const resumedAt = sim.now;
  const allAlive = () => others.every((o) => sim.node(o).engine.member(frozen)?.status === 'alive');
  const restored = sim.runUntil(allAlive, 30_000, 10);
  sim.run(30_000); // and nothing bad happens afterwards either
  return { dead, demoted, restored, resumedAt, stillAlive: allAlive() };
}

describe('a 3 s pause of one member (simulator, Vigil defaults)', () => {
  it('causes no dead verdict, and every view is back to alive within about a second', { timeout: 60_000 }, () => {
    const rows = [20, 50].map((n) => {
      const runs = Array.from({ length: SEEDS }, (_, i) => pauseOnce(n, 31 * n + i));
      for (const r of runs) {
        expect(r.dead, `N = ${n}: no dead verdict`).toEqual([]);
        expect(r.restored, `N = ${n}: views back to alive`).toBeDefined();
        expect(r.stillAlive).toBe(true);
      }
      const restored = runs.map((r) => r.restored!);
      const dead = runs.reduce((sum, r) => sum + r.dead.length, 0);
      return { n, restored, dead, demoted: runs.filter((r) => r.demoted > 0).length };
    });
    console.log(
      table(
        `One member paused for ${PAUSE_MS / 1000} s, ${SEEDS} seeds per N`,
        ['N', 'runs where it was demoted', 'all views alive again after resume (median / max s)', 'dead verdicts'],
        rows.map((r) => [
          r.n,
          `${r.demoted}/${SEEDS}`,
          `${seconds(median(r.restored))} / ${seconds(Math.max(...r.restored))}`,
          r.dead,
        ]),
      ),
    );
    for (const r of rows) expect(Math.max(...r.restored)).toBeLessThanOrEqual(1000);
  });
});
