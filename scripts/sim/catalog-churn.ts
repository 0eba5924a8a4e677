// Memory of one agent's catalog while hosts come and go under new names: the catalog-churn
// harness (real CatalogNode + Mesh, in-memory transport, virtual time) with the heap measured
// after a forced GC at every checkpoint. Flat means the heap after N hosts does not grow with N.
//   npm run sim:catalog-churn -w scripts -- [--hosts 20000] [--window 8] [--seed 14]

import { parseArgs } from 'node:util';
import { runCatalogChurn } from '@vigil/agent';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '20000' },
    window: { type: 'string', default: '8' },
    seed: { type: 'string', default: '14' },
  },
});
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (the npm script does)');
const heapMiB = () => {
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

const hosts = Number(values.hosts);
const every = Math.max(1, Math.floor(hosts / 10));
const baseline = heapMiB();
console.log(`hosts ${hosts}, window ${values.window}, seed ${values.seed}; heap before: ${baseline.toFixed(1)} MiB`);
const started = performance.now();
const result = await runCatalogChurn({
  seed: Number(values.seed),
  hosts,
  window: Number(values.window),
  progress: {
    every,
    report: (done, r) =>
      console.log(
        `${String(done).padStart(7)} hosts  store ${r.storeNow} (max ${r.maxStore})  heap ${heapMiB().toFixed(1)} MiB`,
      ),
  },
});
console.log(
  `done in ${((performance.now() - started) / 1000).toFixed(1)} s: accepted ${result.accepted}/${hosts}, ` +
    `last host held: ${result.lastHeld}; heap after: ${heapMiB().toFixed(1)} MiB`,
);
