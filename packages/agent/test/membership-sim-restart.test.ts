import { describe, expect, it } from 'vitest';
import { PROFILES } from '../src/membership/profiles.ts';
import type { Starvation } from '../src/sim/simulator.ts';
import { convergedCluster, median, seconds, table } from './helpers/membership-sim.ts';

// A member is killed (SIGKILL) and its agent restarted 3 s later with the same name, address and
// data directory (issue 19): a fresh engine at incarnation 1 that joins through its snapshot, while
// the others hold its old life suspect, confirmed, at some incarnation. Once an observer has seen
// it alive again, that observer must never show it suspect or confirmed again: routing acts on
// confirmed suspect at once, so every such flap moves traffic away from a healthy host.
//
// Before the fix, a probe that started while the member was down and failed after its refutation
// arrived accused the *new* incarnation (the engine read the member's incarnation at failure time,
// where memberlist probes a copy taken at the start): 98 false suspect views in 10 of 20 runs at
// N = 20, and "alive everywhere" up to 2.9 s after the restart, as the real cluster showed.

const SEEDS = 20;
const RESTART_AFTER_MS = 3000;
/** The catalog's TCP connections to a crashed host reset at once; each such peer probes it out of turn. */
const CATALOG_PEERS = 6;

/** The busy rows: every node stalls as in a start-up storm (membership-sim-busy-startup.test.ts). */
const STORM: Starvation = { stallMs: [300, 3000], gapMs: [200, 2000], decayMs: 30_000 };

function restartOnce(
  n: number,
  seed: number,
  slowStart: boolean,
  busy = false,
  tcpPing = false,
  afterMs = RESTART_AFTER_MS,
) {
  const { sim, names } = convergedCluster(n, { seed, engine: { tcpPing } }, 5000);
  if (busy) sim.starve(names, STORM);
  const victim = names[seed % n]!;
  const observers = names.filter((x) => x !== victim);
  // The old life had refuted a few accusations: the cluster holds it above the incarnation a
  // fresh engine starts at.
  for (let i = 0; i < 3; i++) {
    sim.act(victim, (e, now) => {
      const inc = e.member(victim)!.incarnation;
      e.handlePacket(
        sim.node(observers[0]!).addr,
        [{ type: 'suspect', incarnation: inc, node: victim, from: observers[0]! }],
        now,
      );
    });
  }
  sim.run(2000 + ((seed * 37) % 1000)); // crash at any phase of the probe rounds
  const oldIncarnation = sim.node(victim).engine.member(victim)!.incarnation;
  sim.crash(victim);
  for (const o of observers.slice(0, CATALOG_PEERS)) sim.act(o, (e, now) => e.probeNow(victim, now));
  sim.run(afterMs);
  const suspectedBefore = observers.filter((o) => sim.node(o).engine.member(victim)?.status === 'suspect').length;

  const restartedAt = sim.now;
  const back = new Map<string, number>();
  const flaps: string[] = [];
  /** Flaps that drain it: a confirmed-suspect or dead view of the new life. */
  let drainingFlaps = 0;
  // An observer that never noticed the crash has it alive all along, so it counts as back from the
  // restart on. News of the old life's death can still reach it afterwards (in a storm the crash is
  // found about 3 s in): a suspicion of the old incarnation before it has seen the new life is
  // that late news, counted apart; anything else is a flap.
  const unnoticed = new Set(observers.filter((o) => sim.node(o).engine.member(victim)?.status === 'alive'));
  const sawNewLife = new Set<string>();
  let oldLifeNews = 0;
  let ownStallSuspicions = 0;
  for (const o of unnoticed) back.set(o, 0);
  sim.onEvent((e) => {
    if (e.member.name !== victim || e.observer === victim) return;
    if (e.type === 'alive' || e.type === 'join') {
      sawNewLife.add(e.observer);
      if (!back.has(e.observer)) back.set(e.observer, e.at - restartedAt);
    } else if (back.has(e.observer)) {
      const late = unnoticed.has(e.observer) && !sawNewLife.has(e.observer) && e.member.incarnation <= oldIncarnation;
      if (late) oldLifeNews++;
      else {
        if (e.member.confirmedSuspect || e.type === 'dead') drainingFlaps++;
        // The storm froze the new life itself, since its restart, for longer than a probe's
        // timeout just before, and the suspicion is of its current incarnation: it could not
        // answer, and a suspicion is SWIM doing its job (Serf's too), not a flap. A stale verdict
        // of the old life (a lower incarnation) or one right after the restart is never excused.
        const since = Math.max(restartedAt, e.at - 2 * PROFILES.lan.probeIntervalMs);
        const frozenMs = sim.pausedWithin(victim, since, e.at);
        const current = sim.node(victim).engine.member(victim)!.incarnation;
        if (frozenMs > PROFILES.lan.probeTimeoutMs && e.member.incarnation === current) ownStallSuspicions++;
        else flaps.push(`${e.at - restartedAt} ms: ${e.observer} ${e.type} inc ${e.member.incarnation}`);
      }
    }
  });
  sim.restart(victim);
  if (busy) sim.starve([victim], STORM);
  if (slowStart) {
    // A starting agent's event loop is busy (cold code, catalog dials): it reads datagrams late.
    sim.setSlow(victim, 100, 300);
    sim.run(3000);
    sim.setSlow(victim, 0);
  }
  sim.run(20_000);
  const own = sim.node(victim).engine.member(victim)!.incarnation;
  return {
    suspectedBefore,
    flaps,
    drainingFlaps,
    oldLifeNews,
    ownStallSuspicions,
    allBack: back.size === observers.length ? Math.max(...back.values()) : undefined,
    // Time the protocol took: each observer's wait less the time it or the restarted member was
    // frozen meanwhile (in a storm the new life itself may stall up to 3 s before it can refute,
    // and the observer up to 3 s more before it reads the news).
    allBackUnstalled: Math.max(
      ...[...back].map(
        ([o, t]) =>
          t -
          sim.pausedWithin(victim, restartedAt, restartedAt + t) -
          sim.pausedWithin(o, restartedAt, restartedAt + t),
      ),
    ),
    ownIncarnationAhead: own > oldIncarnation,
    agreed: observers.every((o) => {
      const m = sim.node(o).engine.member(victim);
      return m?.status === 'alive' && m.incarnation === own;
    }),
  };
}

describe('a member restarted 3 s after a crash (simulator)', () => {
  it('is never suspected again by an observer that saw it back; 20 seeds per row', { timeout: 120_000 }, () => {
    const rows = [
      { n: 20, slowStart: false },
      { n: 50, slowStart: false },
      { n: 20, slowStart: true },
      { n: 50, slowStart: true },
      { n: 20, slowStart: true, busy: true },
      { n: 50, slowStart: true, busy: true },
      // With the TCP fallback ping: the dead port refuses, so starved observers accuse at once.
      { n: 20, slowStart: true, busy: true, tcp: true },
      { n: 50, slowStart: true, busy: true, tcp: true },
      // Restarted 4.5 s after: the refusers' dead verdict (4 s after their dial, rule 6) races
      // the new life's refutation. The old life may be declared dead; the new one never is.
      { n: 20, slowStart: true, busy: true, tcp: true, afterMs: 4500 },
      { n: 50, slowStart: true, busy: true, tcp: true, afterMs: 4500 },
    ].map(({ n, slowStart, busy = false, tcp = false, afterMs = RESTART_AFTER_MS }) => {
      const runs = Array.from({ length: SEEDS }, (_, i) =>
        restartOnce(n, 1900 + 7 * n + i, slowStart, busy, tcp, afterMs),
      );
      for (const r of runs) {
        // In a storm, observers that may not vote wait for 4 s of silence: the 3 s may pass unseen.
        if (!busy) expect(r.suspectedBefore, `N = ${n}: the crash was noticed before the restart`).toBeGreaterThan(0);
        // With the TCP fallback in the storm, one run of 20 (N = 20) saw a lone voter suspect the
        // stalled new life 14.7 s after the restart, never confirmed (README, Restarts): there
        // the bound is that nothing drains it.
        expect(r.drainingFlaps, `N = ${n}: not drained after it was back`).toBe(0);
        if (!tcp) expect(r.flaps, `N = ${n}: no suspicion after it was back, but while it was frozen`).toEqual([]);
        expect(r.allBack, `N = ${n}: every observer saw it back`).toBeDefined();
        expect(r.ownIncarnationAhead, `N = ${n}: the new life out-bids the old one`).toBe(true);
        expect(r.agreed, `N = ${n}: everyone holds its current incarnation`).toBe(true);
      }
      const back = runs.map((r) => r.allBack!);
      const unstalled = runs.map((r) => r.allBackUnstalled);
      const flaps = runs.reduce((s, r) => s + r.flaps.length, 0);
      const suspectedBefore = runs.reduce((s, r) => s + r.suspectedBefore, 0);
      const oldLifeNews = runs.reduce((s, r) => s + r.oldLifeNews, 0);
      const ownStalls = runs.reduce((s, r) => s + r.ownStallSuspicions, 0);
      return { n, slowStart, busy, tcp, afterMs, back, unstalled, flaps, oldLifeNews, ownStalls, suspectedBefore };
    });
    console.log(
      table(
        `Restart after SIGKILL, ${SEEDS} seeds per row, seconds after the restart`,
        [
          'N',
          'restarted after',
          'start-up lag 0.1-0.4 s',
          'start-up storm',
          'TCP fallback',
          'suspect before the restart',
          'alive on every observer (median / max)',
          'of it, not stalled (max)',
          'suspect views after back',
          'of it, while frozen itself',
          'late news of the old life',
        ],
        rows.map((r) => [
          r.n,
          `${seconds(r.afterMs)} s`,
          r.slowStart ? 'yes' : 'no',
          r.busy ? 'yes' : 'no',
          r.tcp ? 'yes' : 'no',
          r.suspectedBefore,
          `${seconds(median(r.back))} / ${seconds(Math.max(...r.back))}`,
          seconds(Math.max(...r.unstalled)),
          r.flaps + r.ownStalls,
          r.ownStalls,
          r.oldLifeNews,
        ]),
      ),
    );
    // Stalls are the storm's, not the protocol's: bound what is left once they are taken out. (A
    // raw bound of 4.5 s in a storm failed on 5 of 2,000 seeds: the new life stalled ~2.7 s before
    // it could refute, then one observer ~2 s before reading it; 1,000 seeds per busy row left at
    // most 0.54 s unstalled.)
    for (const r of rows) expect(Math.max(...r.unstalled)).toBeLessThanOrEqual(1500);
    for (const r of rows) if (!r.busy) expect(Math.max(...r.back)).toBeLessThanOrEqual(1500);
  });
});
