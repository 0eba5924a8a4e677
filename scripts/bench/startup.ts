// One agent, started again and again: exec to /readyz 200, the CPU time start-up cost, and the
// resident memory once it has idled. Cheap enough for a shared machine; levers are compared by
// running it twice (NODE_OPTIONS or --bin/--node to point at another build).
//
//   node bench/startup.ts [--runs 5] [--idle 20] [--bin path/to/vigil.js] [--node path/to/node]
//                         [--flags '--max-semi-space-size=2 ...']
//
// --flags go on the agent's node command line (before the bin), so a lever can be tried without
// setting NODE_OPTIONS for this bench's own process too. Flags the bin applies by itself (see
// AGENT_NODE_FLAGS in packages/agent/bin/vigil.js) are overridden by the same flag given here.
//
// Without --bin it runs the repository's bin (TypeScript sources); a built package (dist/) is what
// hosts run: --bin /usr/lib/vigil/node_modules/@vigil/agent/bin/vigil.js --node /usr/lib/vigil/bin/node.

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { VIGIL_BIN } from './clusters.ts';
import { freePort } from './free-port.ts';
import { cpuSeconds, rssParts } from './proc-stats.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    idle: { type: 'string', default: '20' },
    bin: { type: 'string', default: VIGIL_BIN },
    node: { type: 'string', default: process.execPath },
    flags: { type: 'string', default: '' },
  },
});
const runs = Number(values.runs);
const idleMs = Number(values.idle) * 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const nodeFlags = values.flags.split(/\s+/).filter(Boolean);

async function once(): Promise<{
  readyMs: number;
  startCpu: number;
  rss: number;
  rssAnon: number;
  rssFile: number;
  idleCpu: number;
}> {
  const dataDir = await mkdtemp(join(tmpdir(), 'vigil-startup-'));
  const http = await freePort();
  const args = [
    ...['agent', '--node', 'startup', '--data-dir', dataDir, '--log-level', 'error'],
    ...['--bind', `127.0.0.1:${await freePort()}`, '--http', `127.0.0.1:${http}`, '--p2p', '127.0.0.1:0'],
  ];
  const started = performance.now();
  const child = spawn(values.node, [...nodeFlags, values.bin, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  const pid = child.pid!;
  try {
    for (let i = 0; ; i++) {
      if (i > 3000 || child.exitCode !== null) throw new Error('the agent did not become ready');
      try {
        if ((await fetch(`http://127.0.0.1:${http}/readyz`)).status === 200) break;
      } catch {
        // not listening yet
      }
      await sleep(10);
    }
    const readyMs = performance.now() - started;
    const startCpu = await cpuSeconds(pid);
    await sleep(idleMs);
    const idleCpu = (await cpuSeconds(pid)) - startCpu;
    const mem = await rssParts(pid);
    return { readyMs, startCpu, rss: mem.rss, rssAnon: mem.anon, rssFile: mem.file, idleCpu };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  }
}

const results = [];
for (let i = 0; i < runs; i++) results.push(await once());
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (label: string, xs: number[], unit: string, digits = 0) =>
  console.log(
    `${label.padEnd(28)} median ${median([...xs]).toFixed(digits)} ${unit}  (${xs.map((x) => x.toFixed(digits)).join(', ')})`,
  );
console.log(
  `${runs} runs of ${values.node} ${nodeFlags.join(' ')} ${values.bin}; NODE_OPTIONS=${process.env.NODE_OPTIONS ?? ''}`,
);
fmt(
  'exec to /readyz 200',
  results.map((r) => r.readyMs),
  'ms',
);
fmt(
  'CPU time until ready',
  results.map((r) => r.startCpu * 1000),
  'ms',
);
fmt(
  `RSS after ${values.idle} s idle`,
  results.map((r) => r.rss / 2 ** 20),
  'MiB',
  1,
);
fmt(
  '   of which anonymous',
  results.map((r) => r.rssAnon / 2 ** 20),
  'MiB',
  1,
);
fmt(
  '   of which file-backed',
  results.map((r) => r.rssFile / 2 ** 20),
  'MiB',
  1,
);
fmt(
  `CPU over ${values.idle} s idle`,
  results.map((r) => (r.idleCpu / (idleMs / 1000)) * 100),
  '%',
  2,
);
