// Collective outlier detection on whole nodes in the simulator (real Mesh, CatalogNode over the
// in-memory transport, SWIM simulator; one seed, virtual time): observations reported to agents
// become opinions in their signed records, and every agent computes the same verdict.

import { afterEach, describe, expect, it } from 'vitest';
import type { Observation } from '../src/outlier/index.ts';
import { forEachSeed, NodeSim, replayCommand, simSeeds, webService } from '../src/sim/node-sim.ts';
import { mulberry32 } from '../src/sim/random.ts';

const FILE = 'test/outlier-sim.test.ts';
const NODES = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
const SERVERS = ['n0', 'n1', 'n2', 'n3'];
const OUTLIER = { windowMs: 1_000, baseEjectionMs: 3_000 };
let sims: NodeSim[] = [];
afterEach(async () => {
  for (const s of sims) await s.stop();
  sims = [];
});

async function start(testName: string, seed: number): Promise<NodeSim> {
  const sim = await NodeSim.start({
    seed,
    nodes: NODES,
    testName,
    testFile: FILE,
    panicThreshold: 0.5,
    outlier: OUTLIER,
    // Four active-active instances of `web` on n0..n3; n4..n6 only call it.
    services: (name) => (SERVERS.includes(name) ? [webService(name, 0)] : []),
  });
  sims.push(sim);
  const ready = await sim.runUntil(
    () => NODES.every((n) => sim.agent(n).catalog.records().length === NODES.length && sim.activeNodes(n).length === 4),
    30_000,
  );
  expect(ready, 'every agent routes to all four').toBeDefined();
  return sim;
}

const replay = (testName: string) => (seed: number) => replayCommand(FILE, testName, seed);

function failures(target: string, n = 5): Observation {
  return {
    service: 'web',
    node: target,
    id: `web-${target}`,
    ok: 0,
    refused: 0,
    timeout: 0,
    http5xx: n,
    other: 0,
    latencyMsSum: 2 * n,
  };
}

/** What every agent demotes, and whether all agents hold byte-identical tables. */
function demotedEverywhere(sim: NodeSim): { demoted: string[][]; identical: boolean } {
  const demoted = NODES.map((n) =>
    (sim.table(n)?.endpoints ?? []).filter((e) => e.state === 'demoted').map((e) => e.node),
  );
  // Tables differ only by zone preference, which is the same here: all one zone.
  const tables = NODES.map((n) => JSON.stringify(sim.table(n)));
  return { demoted, identical: tables.every((t) => t === tables[0]) };
}

const everyone = (sim: NodeSim, expected: string[]) =>
  demotedEverywhere(sim).demoted.every((d) => JSON.stringify(d) === JSON.stringify(expected));

describe('collective outlier detection (simulator)', { timeout: 60_000 }, () => {
  it('one observer never ejects mesh-wide; a second one does, everywhere, identically; then it returns', async () => {
    const name = 'one observer never ejects mesh-wide';
    await forEachSeed(simSeeds([1, 2]), replay(name), async (seed) => {
      const sim = await start(name, seed);
      // n4 alone keeps seeing n1 fail for a long while.
      for (let i = 0; i < 20; i++) {
        sim.agent('n4').mesh.observe([failures('n1')]);
        await sim.run(200);
        expect(everyone(sim, []), 'no agent demotes on one observer').toBe(true);
      }
      // n5 sees it too: every agent demotes n1 within a second of virtual time.
      sim.agent('n4').mesh.observe([failures('n1')]);
      sim.agent('n5').mesh.observe([failures('n1')]);
      const took = await sim.runUntil(() => everyone(sim, ['n1']), 5_000);
      expect(took, 'every agent demotes n1').toBeDefined();
      expect(took!).toBeLessThan(1_000);
      expect(demotedEverywhere(sim).identical).toBe(true);
      expect(sim.activeNodes('n6')).toEqual(['n0', 'n2', 'n3']);
      const why = sim.agent('n6').mesh.verdict().ejected;
      expect(why.map((e) => [e.node, e.observers.map((o) => o.node)])).toEqual([['n1', ['n4', 'n5']]]);
      // The observers stop calling it (idle); the ejection window ends; it returns everywhere.
      const back = await sim.runUntil(() => everyone(sim, []), 10_000);
      expect(back, 'n1 restored everywhere').toBeDefined();
      expect(sim.activeNodes('n6')).toEqual(SERVERS);
    });
  });

  it('an observer failing against everything is discounted', async () => {
    const name = 'an observer failing against everything is discounted';
    await forEachSeed(simSeeds([1, 2]), replay(name), async (seed) => {
      const sim = await start(name, seed);
      for (let i = 0; i < 10; i++) {
        sim.agent('n4').mesh.observe(SERVERS.map((s) => failures(s)));
        sim.agent('n5').mesh.observe([failures('n2')]);
        await sim.run(200);
      }
      expect(everyone(sim, []), 'nothing demoted').toBe(true);
      expect(
        sim
          .agent('n0')
          .mesh.verdict()
          .discounted.map((d) => d.observer),
      ).toEqual(['n4']);
      // A second healthy observer (n6) agrees with n5: ejected despite n4's noise.
      sim.agent('n5').mesh.observe([failures('n2')]);
      sim.agent('n6').mesh.observe([failures('n2')]);
      expect(await sim.runUntil(() => everyone(sim, ['n2']), 5_000)).toBeDefined();
    });
  });

  it('two bad endpoints: the max-ejection share holds the second back, everywhere', async () => {
    const name = 'two bad endpoints: the max-ejection share';
    await forEachSeed(simSeeds([1]), replay(name), async (seed) => {
      const sim = await start(name, seed);
      sim.agent('n4').mesh.observe([failures('n1'), failures('n3')]);
      sim.agent('n5').mesh.observe([failures('n1'), failures('n3')]);
      expect(await sim.runUntil(() => everyone(sim, ['n1']), 5_000)).toBeDefined();
      await sim.run(500);
      expect(everyone(sim, ['n1'])).toBe(true);
      expect(
        sim
          .agent('n0')
          .mesh.verdict()
          .held.map((h) => [h.node, h.heldBy]),
      ).toEqual([['n3', 'max-ejection']]);
    });
  });
});

describe('draining (simulator)', { timeout: 60_000 }, () => {
  it('a drain stops new traffic on every agent before the node leaves, and waits out its bound', async () => {
    const name = 'a drain stops new traffic on every agent';
    await forEachSeed(simSeeds([1]), replay(name), async (seed) => {
      const sim = await start(name, seed);
      let drained = false;
      const started = sim.runtime.clock.now();
      let finishedAt = 0;
      void sim
        .agent('n2')
        .mesh.drain(2_000)
        .then((d) => {
          drained = d;
          finishedAt = sim.runtime.clock.now();
        });
      const others = NODES.filter((n) => n !== 'n2');
      const gone = await sim.runUntil(() => others.every((n) => !sim.activeNodes(n).includes('n2')), 2_000);
      expect(gone, 'every other agent stops routing to n2 within the bound').toBeDefined();
      expect(drained).toBe(false); // still waiting for requests in flight
      await sim.run(2_500);
      expect(drained).toBe(true);
      expect(finishedAt - started).toBeGreaterThanOrEqual(2_000);
      for (const n of others) expect(sim.activeNodes(n)).toEqual(['n0', 'n1', 'n3']);
    });
  });
});

describe('convergence (simulator, random reports)', { timeout: 120_000 }, () => {
  it('once opinions stop changing, every agent holds the same tables and the same verdict', async () => {
    const name = 'once opinions stop changing, every agent holds the same tables';
    let ejectionsSeen = 0;
    await forEachSeed(simSeeds([11, 12, 13]), replay(name), async (seed) => {
      const sim = await start(name, seed);
      const rnd = mulberry32(seed);
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
      // Random observers report random outcomes on random endpoints for a while ...
      for (let step = 0; step < 30; step++) {
        const observer = pick(NODES);
        const target = pick(SERVERS);
        const failing = rnd() < 0.6;
        sim
          .agent(observer)
          .mesh.observe([
            failing
              ? failures(target, 1 + Math.floor(rnd() * 5))
              : { ...failures(target, 0), ok: 1 + Math.floor(rnd() * 5) },
          ]);
        await sim.run(Math.floor(rnd() * 400));
        ejectionsSeen += sim.agent('n6').mesh.verdict().ejected.length;
      }
      // ... then stop. Opinions go idle after a window and stop changing; ejections run out.
      await sim.run(OUTLIER.windowMs * 3);
      const same = await sim.runUntil(() => {
        const tables = NODES.map((n) => JSON.stringify(sim.table(n)));
        const verdicts = NODES.map((n) => JSON.stringify(sim.agent(n).mesh.verdict()));
        return tables.every((t) => t === tables[0]) && verdicts.every((v) => v === verdicts[0]);
      }, 5_000);
      expect(same, 'identical tables and verdicts on every agent').toBeDefined();
      // And the share and panic limits held throughout the end state: at most one of four ejected.
      expect(sim.agent('n0').mesh.verdict().ejected.length).toBeLessThanOrEqual(1);
    });
    // Not vacuous: the random reports did eject along the way.
    expect(ejectionsSeen).toBeGreaterThan(0);
  });
});

describe('health-flap damping (simulator)', { timeout: 60_000 }, () => {
  it('an instance whose health flaps is held out on every agent after it settles healthy', async () => {
    const name = 'an instance whose health flaps is held out';
    await forEachSeed(simSeeds([1]), replay(name), async (seed) => {
      const sim = await start(name, seed);
      for (let i = 0; i < 3; i++) {
        sim.agent('n1').services.setHealth('web-n1', 'critical');
        await sim.run(2_000);
        sim.agent('n1').services.setHealth('web-n1', 'passing');
        await sim.run(2_000);
      }
      // Passing now, but it flipped six times in 12 s: every agent holds it out, identically.
      await sim.run(1_000);
      expect(everyone(sim, ['n1']), 'every agent demotes n1').toBe(true);
      const held = sim.agent('n5').mesh.verdict().ejected;
      expect(held.map((e) => [e.node, e.damped, e.observers.length])).toEqual([['n1', true, 0]]);
      expect(demotedEverywhere(sim).identical).toBe(true);
    });
  });
});
