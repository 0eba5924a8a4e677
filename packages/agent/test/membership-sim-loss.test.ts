import { describe, expect, it } from 'vitest';
import type { SimEvent } from '../src/sim/simulator.ts';
import { convergedCluster, MODES, type Mode, median, seconds, table } from './helpers/membership-sim.ts';

// Packet loss must slow detection down, never make a live member dead (issue 3). Every node here
// stays alive, so every dead verdict is a false positive.

const MINUTE = 60_000;

function lossyRun(mode: Mode, n: number, lossRate: number, minutes: number, seed: number) {
  const { sim } = convergedCluster(n, { seed, lossRate, engine: MODES[mode] });
  const dead: SimEvent[] = [];
  const confirmed: SimEvent[] = [];
  let suspicions = 0;
  // How long each confirmed-suspect view (a routing demotion) lasts: until that observer sees the
  // member alive again.
  const open = new Map<string, number>();
  const durations: number[] = [];
  sim.onEvent((e) => {
    const key = `${e.observer}\0${e.member.name}`;
    if (e.type === 'dead' || e.type === 'left') dead.push(e);
    if (e.type === 'suspect') suspicions++;
    if (e.type === 'confirmed') {
      confirmed.push(e);
      open.set(key, e.at);
    }
    const since = open.get(key);
    if (e.type === 'alive' && since !== undefined) {
      durations.push(e.at - since);
      open.delete(key);
    }
  });
  sim.run(minutes * MINUTE);
  return { sim, dead, confirmed, suspicions, durations, unresolved: open.size };
}

describe('membership under packet loss (simulator)', () => {
  it('N = 100 with 10% loss for 10 minutes: no live member is ever declared dead', { timeout: 60_000 }, () => {
    const { sim, dead, confirmed, suspicions } = lossyRun('vigil', 100, 0.1, 10, 100);
    console.log(
      table(
        'N = 100, 10% datagram loss, 10 simulated minutes (Vigil defaults)',
        ['datagrams', 'dropped', 'suspect views', 'confirmed-suspect views', 'dead verdicts'],
        [[sim.packetsSent, sim.packetsDropped, suspicions, confirmed.length, dead.length]],
      ),
    );
    expect(dead.map((e) => `${e.observer} -> ${e.member.name}`)).toEqual([]);
    // Once the loss stops, every view settles back to all-alive.
    sim.setLossRate(0);
    expect(sim.runUntil(() => sim.converged(), 30_000, 100)).toBeDefined();
  });

  it('collective confirmation creates no false positives: N = 50, 10% loss, 30 minutes', { timeout: 60_000 }, () => {
    const runs = (['vigil', 'lifeguard'] as const).map((mode) => ({ mode, ...lossyRun(mode, 50, 0.1, 30, 50) }));
    console.log(
      table(
        'N = 50, 10% datagram loss, 30 simulated minutes, nobody fails: every dead verdict is false',
        [
          'protocol',
          'suspect views',
          'confirmed-suspect views',
          'members confirmed',
          'confirmed for (median / max s)',
          'dead verdicts',
        ],
        runs.map((r) => [
          r.mode === 'vigil' ? 'Vigil (defaults)' : 'Lifeguard only',
          r.suspicions,
          r.confirmed.length,
          new Set(r.confirmed.map((e) => e.member.name)).size,
          r.durations.length > 0 ? `${seconds(median(r.durations))} / ${seconds(Math.max(...r.durations))}` : '-',
          r.dead.length,
        ]),
      ),
    );
    const vigil = runs[0]!;
    expect(vigil.dead.map((e) => `${e.observer} -> ${e.member.name} @${e.at}`)).toEqual([]);
    // A confirmed suspect demotes routes; under loss it stays rare, and every one was refuted.
    expect(vigil.unresolved).toBe(0);
    expect(vigil.confirmed.length).toBeLessThan(vigil.suspicions / 10);
  });
});
