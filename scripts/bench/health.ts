// Health plane costs on this host, the figures behind packages/agent/src/health/README.md and
// services/README.md: one run of each probe type against loopback, and one atomic state write.
// Usage: node bench/health.ts [--runs 200]

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../packages/agent/src/data-dir/atomic-write.ts';
import { runExecCheck } from '../../packages/agent/src/health/exec-check.ts';
import { runHttpCheck } from '../../packages/agent/src/health/http-check.ts';
import { runTcpCheck } from '../../packages/agent/src/health/tcp-check.ts';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 200;

async function time(name: string, runs: number, fn: () => Promise<unknown>): Promise<void> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  const q = (p: number) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]!.toFixed(2);
  console.log(`${name.padEnd(34)} runs ${String(runs).padStart(4)}  p50 ${q(0.5)} ms  p99 ${q(0.99)} ms`);
}

const server = createServer((_req, res) => res.end('ok'));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as { port: number }).port;
const ctx = () => ({ signal: AbortSignal.timeout(5_000), outputMaxSize: 4096 });
const common = { intervalMs: 1_000, timeoutMs: 5_000 };

await time('tcp connect (loopback)', RUNS, () =>
  runTcpCheck({ type: 'tcp', address: `127.0.0.1:${port}`, ...common }, ctx()),
);
await time('http GET (loopback)', RUNS, () =>
  runHttpCheck(
    {
      type: 'http',
      url: `http://127.0.0.1:${port}/`,
      method: 'GET',
      headers: {},
      tlsSkipVerify: false,
      disableRedirects: false,
      ...common,
    },
    ctx(),
  ),
);
await time('exec /bin/true', Math.min(RUNS, 50), () =>
  runExecCheck({ type: 'exec', args: ['/bin/true'], ...common }, ctx()),
);
server.close();

const dir = await mkdtemp(join(tmpdir(), 'vigil-bench-'));
const state = JSON.stringify({
  version: 1,
  checks: Object.fromEntries(
    Array.from({ length: 50 }, (_, i) => [`c${i}`, { status: 'passing', output: 'x'.repeat(200), since: Date.now() }]),
  ),
});
await time(`atomic write, ${(state.length / 1024).toFixed(0)} KiB (fsync)`, Math.min(RUNS, 100), () =>
  writeFileAtomic(join(dir, 'checks-state.json'), state),
);
await rm(dir, { recursive: true, force: true });
