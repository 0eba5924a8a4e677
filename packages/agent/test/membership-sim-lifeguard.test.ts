import { describe, expect, it } from 'vitest';
import { convergedCluster, MODES, type Mode, table } from './helpers/membership-sim.ts';

// The Lifeguard table (issue 3): false positives caused by slow members, under the SWIM paper's
// protocol and under Vigil (Lifeguard plus collective confirmation), side by side.
//
// The slow-node model. Lifeguard's premise is that slow message processing at a *detector* (CPU
// exhaustion, GC or swap storms, an overloaded VM) is the main source of false positives: a node
// that hears acks, nacks and refutations late accuses healthy peers and misses their
// refutations. We model it with Simulator.setSlow: a slow node handles each datagram it receives
// 3 to 6 seconds after its arrival (uniform), in arrival order, as a backlogged event loop would,
// while it still sends on time. The network itself is clean, and nobody crashes.
//
// A false positive is a dead verdict, by any observer, about a healthy member (neither slow nor
// crashed). Verdicts about the slow nodes are counted apart: a node that answers 3-6 s late is
// unusable, and declaring it dead is defensible.

const N = 50;
const MINUTES = 5;
const LAG_MS = 3000;
const LAG_JITTER_MS = 3000;

function run(mode: Mode, slowCount: number) {
  const { sim, names } = convergedCluster(N, { seed: 9000 + slowCount, engine: MODES[mode] });
  const slow = new Set(names.slice(0, slowCount));
  for (const name of slow) sim.setSlow(name, LAG_MS, LAG_JITTER_MS);
  let healthy = 0;
  let aboutSlow = 0;
  const victims = new Set<string>();
  sim.onEvent((e) => {
    if (e.type !== 'dead') return;
    if (slow.has(e.member.name)) aboutSlow++;
    else {
      healthy++;
      victims.add(e.member.name);
    }
  });
  sim.run(MINUTES * 60_000);
  return { healthy, victims: victims.size, aboutSlow };
}

describe('the Lifeguard table (simulator)', () => {
  it('Vigil has at least 10x fewer false positives than plain SWIM with 1-5 slow nodes', { timeout: 120_000 }, () => {
    const modes: Mode[] = ['swim', 'lifeguard', 'vigil'];
    const rows = [1, 2, 3, 4, 5].map((slow) => ({ slow, results: modes.map((m) => run(m, slow)) }));
    const total = (i: number, key: 'healthy' | 'aboutSlow') => rows.reduce((sum, r) => sum + r.results[i]![key], 0);

    console.log(
      table(
        `False positives with slow nodes: N = ${N}, ${MINUTES} simulated minutes per row, slow nodes process each ` +
          `datagram ${LAG_MS / 1000}-${(LAG_MS + LAG_JITTER_MS) / 1000} s late.\n` +
          'Each cell: dead verdicts about healthy members (distinct healthy members hit) / dead verdicts about the slow nodes.',
        ['slow nodes', 'plain SWIM', 'Lifeguard only', 'Vigil (Lifeguard + collective)'],
        [
          ...rows.map((r) => [r.slow, ...r.results.map((x) => `${x.healthy} (${x.victims}) / ${x.aboutSlow}`)]),
          ['total', ...modes.map((_, i) => `${total(i, 'healthy')} / ${total(i, 'aboutSlow')}`)],
        ],
      ),
    );

    const swim = total(0, 'healthy');
    const vigil = total(2, 'healthy');
    expect(swim, 'the scenario must actually hurt plain SWIM').toBeGreaterThanOrEqual(10);
    expect(vigil * 10).toBeLessThanOrEqual(swim);
    for (const r of rows) expect(r.results[2]!.healthy).toBeLessThanOrEqual(r.results[0]!.healthy);
  });
});
