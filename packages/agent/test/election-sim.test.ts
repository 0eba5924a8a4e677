// The election core under the seeded simulator (virtual time, one seed per history): faults,
// KV clients, and a checker over every history. The soak (scripts/sim/election-soak.ts) runs the
// same thing over 10,000+ seeds; this is the fast subset for `npm test`.
import { describe, expect, it } from 'vitest';
import {
  type ElectionSimReport,
  replayCommand,
  runElectionSim,
  type SimMutation,
} from '../src/election/sim/election-sim.ts';

function failing(r: ElectionSimReport): string {
  return `seed ${r.seed} (${r.voters} voters): ${r.violations.join('\n')}\nreplay: ${replayCommand({ seed: r.seed, voters: r.voters, durationMs: 16_000 })}`;
}

describe('election simulator: safety over many seeds', () => {
  it('200 seeds (3 and 5 voters) under drift, loss, duplication, reordering, partitions, crashes and reconfiguration: no violation', () => {
    const totals = { elections: 0, changes: 0, ops: 0, crashes: 0, powerLosses: 0, confChanges: 0, maxToLeader: 0 };
    for (let seed = 1; seed <= 200; seed++) {
      const r = runElectionSim({ seed, voters: seed % 2 === 0 ? 5 : 3, durationMs: 16_000 });
      expect(r.violations, failing(r)).toEqual([]);
      expect(r.linearizable).not.toBe('illegal');
      totals.elections += r.elections;
      totals.changes += r.leaderChanges;
      totals.ops += r.opsChecked;
      totals.crashes += r.crashes;
      totals.powerLosses += r.powerLosses;
      totals.confChanges += r.confChanges;
      totals.maxToLeader = Math.max(totals.maxToLeader, r.maxTimeToLeaderMs);
    }
    // The runs did exercise what they claim to.
    expect(totals.elections).toBeGreaterThan(200);
    expect(totals.changes).toBeGreaterThan(50);
    expect(totals.ops).toBeGreaterThan(10_000);
    expect(totals.crashes).toBeGreaterThan(50);
    expect(totals.powerLosses).toBeGreaterThan(5);
    expect(totals.confChanges).toBeGreaterThan(10);
    expect(totals.maxToLeader).toBeLessThanOrEqual(4_000);
  }, 120_000);

  it('is deterministic: one seed replays to the same history', () => {
    const a = runElectionSim({ seed: 42, voters: 5, durationMs: 16_000 });
    const b = runElectionSim({ seed: 42, voters: 5, durationMs: 16_000 });
    expect(b).toEqual(a);
  });
});

describe('election simulator: the checker catches each rule broken on purpose', () => {
  const firstCaught = (mutation: SimMutation, limit: number): ElectionSimReport | undefined => {
    for (let seed = 1; seed <= limit; seed++) {
      const r = runElectionSim({ seed, voters: seed % 2 === 0 ? 5 : 3, mutation });
      if (r.violations.length > 0) return r;
    }
    return undefined;
  };

  it('skip-fsync (messages sent before the write is durable; a power loss takes it): lost votes or entries', () => {
    const r = firstCaught('skip-fsync', 40);
    expect(r, 'no seed caught skip-fsync').toBeDefined();
    expect(r!.violations.join('\n')).toMatch(/state machine safety|two leaders in term|not linearizable/);
  }, 120_000);

  it('long-lease (lease past the drift bound): two lease holders at once', () => {
    const r = firstCaught('long-lease', 40);
    expect(r, 'no seed caught long-lease').toBeDefined();
    expect(r!.violations.join('\n')).toMatch(/two lease holders at once/);
  }, 120_000);

  it('no-stickiness (votes granted while a live leader is heard): two lease holders at once', () => {
    const r = firstCaught('no-stickiness', 60);
    expect(r, 'no seed caught no-stickiness').toBeDefined();
    expect(r!.violations.join('\n')).toMatch(/two lease holders at once/);
  }, 120_000);
});
