import { describe, expect, it } from 'vitest';
import { PROFILES, suspicionTimeoutMs } from '../src/membership/profiles.ts';
import { convergedCluster, firstSeen, median, seconds, table } from './helpers/membership-sim.ts';

// How fast a crash is seen (virtual time, LAN profile, no loss): first as a confirmed suspect
// (routing demotes it), then as dead. Serf 0.9's figures on real hosts, for scale: every agent
// sees a SIGKILL as failed in ~6.8 s at N = 5, 7.0 s at N = 20, 9.0 s at N = 50 (issue 3).

const SEEDS = 10;

function crashOnce(n: number, seed: number) {
  const { sim, names } = convergedCluster(n, { seed }, 5000);
  const victim = names[seed % n]!;
  const survivors = n - 1;
  const suspected = firstSeen(sim, victim, (e) => e.type === 'suspect');
  const confirmed = firstSeen(sim, victim, (e) => e.member.confirmedSuspect);
  const dead = firstSeen(sim, victim, (e) => e.type === 'dead');
  const others: string[] = [];
  sim.onEvent((e) => {
    if (e.type === 'dead' && e.member.name !== victim) others.push(`${e.observer} -> ${e.member.name}`);
  });
  const at = sim.now;
  sim.crash(victim);
  sim.runUntil(() => dead.size === survivors, 60_000, 50);
  const since = (m: Map<string, number>, pick: (xs: number[]) => number) => pick([...m.values()]) - at;
  const confirmedFirst = [...confirmed].every(([observer, t]) => t <= dead.get(observer)!);
  return {
    complete: dead.size === survivors && confirmed.size === survivors,
    confirmedFirst,
    others,
    firstSuspect: since(suspected, (xs) => Math.min(...xs)),
    allConfirmed: since(confirmed, (xs) => Math.max(...xs)),
    allDead: since(dead, (xs) => Math.max(...xs)),
  };
}

describe('crash detection times (simulator)', () => {
  it('every survivor sees a crash as confirmed suspect, then dead; medians over 10 seeds', { timeout: 60_000 }, () => {
    const rows = [10, 20, 50].map((n) => {
      const runs = Array.from({ length: SEEDS }, (_, i) => crashOnce(n, 100 * n + i));
      for (const r of runs) {
        expect(r.complete, `N = ${n}: every survivor saw both states`).toBe(true);
        expect(r.confirmedFirst, `N = ${n}: confirmed suspect came before dead on every survivor`).toBe(true);
        expect(r.others, `N = ${n}: no other member declared dead`).toEqual([]);
      }
      return {
        n,
        firstSuspect: median(runs.map((r) => r.firstSuspect)),
        allConfirmed: median(runs.map((r) => r.allConfirmed)),
        allDead: median(runs.map((r) => r.allDead)),
        maxDead: Math.max(...runs.map((r) => r.allDead)),
        minSuspicion: suspicionTimeoutMs(PROFILES.lan.suspicionMult, n, PROFILES.lan.probeIntervalMs),
      };
    });

    console.log(
      table(
        `Crash detection, LAN profile, no loss: medians over ${SEEDS} seeds, seconds after the crash`,
        ['N', 'first suspicion', 'all: confirmed suspect', 'all: dead', 'all: dead (worst)', 'min suspicion'],
        rows.map((r) => [
          r.n,
          seconds(r.firstSuspect),
          seconds(r.allConfirmed),
          seconds(r.allDead),
          seconds(r.maxDead),
          seconds(r.minSuspicion),
        ]),
      ),
    );
    for (const r of rows) {
      // Collective confirmation: every survivor holds the confirmed state about one probe round
      // after the first suspicion, far ahead of the dead verdict.
      expect(r.allConfirmed - r.firstSuspect).toBeLessThan(PROFILES.lan.probeIntervalMs);
      expect(r.allConfirmed).toBeLessThan(0.5 * r.allDead);
      // With independent confirmations the dead verdict comes at the minimum suspicion timeout.
      expect(r.allDead).toBeLessThan(r.firstSuspect + r.minSuspicion + 1000);
    }
  });
});
