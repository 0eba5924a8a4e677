// DNS interface throughput and latency: Debian's dnsperf against one real agent on loopback.
//
//   npm run bench:dns -w scripts [-- SECONDS]
//
// dnsperf 2.10 reports throughput and mean latency; with -v it prints each answer's latency, from
// which this computes the percentiles. The agent's CPU time over the run shows how much of one
// core it used (Node answers on one thread).

import { spawn } from 'node:child_process';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VIGIL_BIN } from './clusters.ts';
import { freePort } from './free-port.ts';
import { cpuSeconds } from './proc-stats.ts';

const SECONDS = Math.min(Math.max(Number(process.argv[2] ?? 10) || 10, 1), 60);
/** dnsperf's outstanding queries: enough to keep one Node thread busy. */
const OUTSTANDING = 64;
const QUERIES = [
  'web.service.vigil A',
  'web.service.vigil SRV',
  'v2.web.service.vigil A',
  'a.node.vigil A',
  'nope.service.vigil A',
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-bench-dns-'));
  const [gossip, http, p2p, dns] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const args = [VIGIL_BIN, 'agent', '--node', 'a', '--bind', `127.0.0.1:${gossip}`, '--http', `127.0.0.1:${http}`];
  args.push('--p2p', `127.0.0.1:${p2p}`, '--dns', `127.0.0.1:${dns}`, '--data-dir', join(dir, 'a'));
  args.push('--log-level', 'warn', '--log-format', 'json');
  const agent = spawn(process.execPath, args, { stdio: 'ignore' });
  const stop = async () => {
    if (agent.exitCode === null) {
      agent.kill('SIGKILL');
      await new Promise((r) => agent.once('exit', r));
    }
    await rm(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    const api = `http://127.0.0.1:${http}`;
    for (let i = 0; ; i++) {
      if (i > 300) throw new Error('the agent did not start');
      if (
        await fetch(`${api}/readyz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      await sleep(100);
    }
    const instances = [
      { ID: 'web-1', Port: 8001, Priority: 0, Weight: 3, Tags: ['v2'], Address: '127.0.0.11' },
      { ID: 'web-2', Port: 8002, Priority: 0, Weight: 1, Address: '127.0.0.12' },
      { ID: 'web-3', Port: 8003, Priority: 1, Address: '127.0.0.13' },
    ];
    for (const inst of instances) {
      const res = await fetch(`${api}/v1/agent/service/register`, {
        method: 'PUT',
        body: JSON.stringify({ Name: 'web', ...inst }),
      });
      if (!res.ok) throw new Error(`register: ${res.status} ${await res.text()}`);
    }
    for (let i = 0; ; i++) {
      if (i > 300) throw new Error('web never showed 3 endpoints');
      const table = (await (await fetch(`${api}/v1/routes/web`)).json().catch(() => ({}))) as { endpoints?: [] };
      if ((table.endpoints?.length ?? 0) === instances.length) break;
      await sleep(100);
    }
    const file = join(dir, 'queries.txt');
    await writeFile(file, `${QUERIES.join('\n')}\n`);

    // Phase 1: throughput, as many queries as the agent answers (dnsperf keeps OUTSTANDING in flight).
    const half = Math.max(1, Math.round(SECONDS / 2));
    const cpuBefore = await cpuSeconds(agent.pid ?? 0);
    const started = performance.now();
    const saturated = await dnsperf(dns, file, half, []);
    const cpu = ((await cpuSeconds(agent.pid ?? 0)) - cpuBefore) / ((performance.now() - started) / 1000);
    const maxQps = Number(/Queries per second:\s+([\d.]+)/.exec(saturated.summary)?.[1]);
    // Phase 2: latency at a third of that rate: percentiles at saturation only measure the queue.
    const rate = Math.max(1000, Math.round(maxQps / 3));
    const paced = await dnsperf(dns, file, half, ['-Q', String(rate), '-v']);
    const latencies = paced.latencies.sort((x, y) => x - y);
    const pct = (p: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
    const lost = (s: string) => /Queries lost:\s+(\d+)/.exec(s)?.[1];
    console.log(`dnsperf, one agent on loopback (${QUERIES.length} names: A, SRV, tag, node, NXDOMAIN)`);
    console.log(
      `  throughput   ${maxQps.toFixed(0)} queries/s over ${half} s, ${OUTSTANDING} outstanding, lost ${lost(saturated.summary)}; agent CPU ${(cpu * 100).toFixed(0)} % of one core`,
    );
    console.log(
      `  latency      at ${rate} queries/s over ${half} s (${latencies.length} answers, lost ${lost(paced.summary)}): p50 ${pct(50).toFixed(3)} ms, p90 ${pct(90).toFixed(3)} ms, p99 ${pct(99).toFixed(3)} ms, p99.9 ${pct(99.9).toFixed(3)} ms, max ${(latencies.at(-1) ?? NaN).toFixed(3)} ms`,
    );
    console.log(`  rcodes       ${[...paced.rcodes].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  } finally {
    await stop();
  }
}

/**
 * Runs dnsperf with its output in a file (parsed afterwards, so the parsing takes no CPU from the
 * agent during the run); with -v, each answer's latency (ms) and rcode are collected.
 */
async function dnsperf(port: number, file: string, seconds: number, extra: string[]) {
  const outPath = `${file}.out`;
  const out = await open(outPath, 'w');
  const perf = spawn(
    'dnsperf',
    ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(seconds), '-q', String(OUTSTANDING), ...extra],
    { stdio: ['ignore', out.fd, 'pipe'] },
  );
  let stderr = '';
  perf.stderr?.on('data', (d) => {
    stderr += d;
  });
  const code = await new Promise<number | null>((r) => perf.once('exit', r));
  await out.close();
  if (code !== 0) throw new Error(`dnsperf exited ${code}: ${stderr}`);
  const latencies: number[] = [];
  const rcodes = new Map<string, number>();
  let summary = '';
  for (const line of (await readFile(outPath, 'utf8')).split('\n')) {
    // "> NOERROR web.service.vigil A 0.000123"
    const m = /^> (\w+) \S+ \S+ ([\d.]+)$/.exec(line);
    if (m) {
      rcodes.set(m[1] ?? '', (rcodes.get(m[1] ?? '') ?? 0) + 1);
      latencies.push(Number(m[2]) * 1000);
    } else summary += `${line}\n`;
  }
  return { summary, latencies, rcodes };
}

await main();
