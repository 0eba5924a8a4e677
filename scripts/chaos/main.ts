// npm run chaos -w scripts -- --seed N --minutes M [--hosts 7]
// Runs one seeded chaos schedule over real agents in network namespaces (needs root, iproute2,
// nftables, curl) and prints what was applied, the convergence times and any invariant broken.
// Exit code 1 when an invariant broke. See chaos.ts for the faults and the invariants.

import { parseArgs } from 'node:util';
import { runChaos } from './chaos.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    minutes: { type: 'string', default: '10' },
    hosts: { type: 'string', default: '7' },
  },
});
const report = await runChaos({
  seed: Number(values.seed),
  durationMs: Number(values.minutes) * 60_000,
  hosts: Number(values.hosts),
  log: (line) => console.log(line),
});
console.log(JSON.stringify(report, null, 2));
process.exit(report.violations.length === 0 ? 0 : 1);
