// Catalog and routing benchmark: N real agent processes on loopback. Measures
//  - health-flip propagation: a TTL check flips on one agent (a fresh instance every two flips); time until every agent's routing
//    table shows it (from each agent's SSE route events), p50/p99 over the flips;
//  - SIGKILL: time until every survivor has demoted (confirmed suspect), then removed (dead), the
//    killed node's instance.
// Usage: node bench/catalog.ts [--n 20,50] [--flips 50] [--out results.json]
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { running, until } from './processes.ts';
import { followEvents, now } from './sse.ts';

const VIGIL = fileURLToPath(new URL('../../packages/agent/bin/vigil.js', import.meta.url));
const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '20,50' },
    flips: { type: 'string', default: '50' },
    out: { type: 'string' },
  },
});
const SIZES = values.n!.split(',').map(Number);
const FLIPS = Number(values.flips);
const BASE_PORT = 24000;
const KEY = Buffer.alloc(32, 3).toString('base64');

interface RouteEndpoint {
  node: string;
  id: string;
  state: string;
}
interface RouteEvent {
  at: number;
  endpoints: RouteEndpoint[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

/** Follows an agent's SSE stream and keeps every `route` event for service `bench`; resolves once it is open. */
function follow(httpPort: number, sink: RouteEvent[], stop: AbortSignal): Promise<void> {
  return followEvents(
    httpPort,
    (e) => {
      if (e.type !== 'route') return;
      const data = e.data as { service: string; table?: { endpoints: RouteEndpoint[] } };
      if (data.service === 'bench') sink.push({ at: e.at, endpoints: data.table?.endpoints ?? [] });
    },
    stop,
  );
}

async function api(port: number, path: string, method = 'GET', body?: unknown): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function runSize(n: number) {
  const root = await mkdtemp(join(tmpdir(), `vigil-bench-catalog-${n}-`));
  const procs: ChildProcess[] = [];
  const stop = new AbortController();
  const port = (i: number, k: number) => BASE_PORT + i * 4 + k;
  try {
    for (let i = 0; i < n; i++) {
      const args = [VIGIL, 'agent', '--node', `b${i}`, '--bind', `127.0.0.1:${port(i, 0)}`];
      args.push('--http', `127.0.0.1:${port(i, 1)}`, '--p2p', `127.0.0.1:${port(i, 2)}`, '--encrypt', KEY);
      args.push('--data-dir', join(root, `b${i}`), '--log-level', 'warn', '--failback-hold-down', '0s', '--dns', 'off');
      if (i > 0) args.push('--join', `127.0.0.1:${port(0, 0)}`);
      const child = spawn(process.execPath, args, { stdio: 'ignore' });
      running.add(child);
      child.once('exit', () => running.delete(child));
      procs.push(child);
      await sleep(50); // stagger process start-up on 2 cores
    }
    await until(
      `${n} agents to see ${n} members`,
      async () => {
        for (let i = 0; i < n; i++) {
          const ms = (await (await api(port(i, 1), '/v1/members')).json()) as { status: string }[];
          if (ms.filter((m) => m.status === 'alive').length !== n) return false;
        }
        return true;
      },
      180_000,
    );
    // Two instances of `bench`: on b1 (flipped by a TTL check) and on b2 (killed later).
    const ttl = (id: string) => ({ Name: 'bench', ID: id, Port: 9000, Check: { TTL: '1h', Status: 'passing' } });
    const events: RouteEvent[][] = Array.from({ length: n }, () => []);
    await Promise.all(events.map((sink, i) => follow(port(i, 1), sink, stop.signal)));
    // Each flipped instance flips twice (fail, then pass) and no more: the agents damp an instance
    // whose health flaps (RFC 2439, src/outlier/damping.ts), and a damped instance would hold the
    // bench's later flips back, measuring the damping instead of the propagation.
    const flipIds = Array.from({ length: Math.ceil(FLIPS / 2) }, (_, k) => `flip-${k}`);
    for (const [k, id] of flipIds.entries()) {
      await api(port(1, 1), '/v1/agent/service/register', 'PUT', { ...ttl(id), Port: 9100 + k });
    }
    await api(port(2, 1), '/v1/agent/service/register', 'PUT', ttl('victim'));
    const activeIn = (e: RouteEvent | undefined, node: string, id?: string) =>
      e?.endpoints.some((x) => x.node === node && (id === undefined || x.id === id) && x.state === 'active') ?? false;
    await until(
      'every instance active everywhere',
      () => events.every((e) => flipIds.every((id) => activeIn(e.at(-1), 'b1', id)) && activeIn(e.at(-1), 'b2')),
      60_000,
    );

    const flips: number[] = [];
    for (let f = 0; f < FLIPS; f++) {
      const wantActive = f % 2 === 1;
      const id = flipIds[Math.floor(f / 2)]!;
      const from = events.map((e) => e.length);
      const t0 = now();
      await api(port(1, 1), `/v1/agent/check/${wantActive ? 'pass' : 'fail'}/service:${id}`, 'PUT');
      let reached: number[] = [];
      await until(
        `flip ${f} everywhere`,
        () => {
          reached = events.map(
            (e, i) => e.slice(from[i]).find((ev) => activeIn(ev, 'b1', id) === wantActive)?.at ?? Number.NaN,
          );
          return reached.every((x) => !Number.isNaN(x));
        },
        30_000,
      );
      flips.push(Math.max(...reached) - t0);
      await sleep(100);
    }

    // SIGKILL b2: demoted everywhere, then removed everywhere.
    const from = events.map((e) => e.length);
    const t0 = now();
    procs[2]!.kill('SIGKILL');
    const firstWith = (i: number, pred: (e: RouteEvent) => boolean) => events[i]!.slice(from[i]).find(pred)?.at;
    const survivors = [...Array(n).keys()].filter((i) => i !== 2);
    let demoted: (number | undefined)[] = [];
    let removed: (number | undefined)[] = [];
    await until(
      'b2 removed everywhere',
      () => {
        demoted = survivors.map((i) =>
          firstWith(i, (e) => e.endpoints.some((x) => x.node === 'b2' && x.state === 'demoted')),
        );
        removed = survivors.map((i) => firstWith(i, (e) => !e.endpoints.some((x) => x.node === 'b2')));
        return removed.every((x) => x !== undefined);
      },
      90_000,
    );
    const demotedAll = demoted.every((x) => x !== undefined) ? Math.max(...(demoted as number[])) - t0 : Number.NaN;
    const demotedSeen = demoted.filter((x) => x !== undefined).length;
    const removedAll = Math.max(...(removed as number[])) - t0;
    return {
      n,
      flips: flips.length,
      flipP50: pct(flips, 50),
      flipP99: pct(flips, 99),
      flipMax: Math.max(...flips),
      demotedAllMs: demotedAll,
      demotedSeenBy: `${demotedSeen}/${survivors.length}`,
      removedAllMs: removedAll,
    };
  } finally {
    stop.abort();
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    await Promise.all(
      procs.map((p) => (p.exitCode === null && p.signalCode === null ? new Promise((r) => p.once('exit', r)) : null)),
    );
    await rm(root, { recursive: true, force: true });
  }
}

const results = [];
for (const n of SIZES) {
  console.log(`N = ${n}: starting ${n} agents...`);
  const r = await runSize(n);
  results.push(r);
  console.log(
    `N = ${n}: health flip everywhere p50 ${r.flipP50.toFixed(0)} ms, p99 ${r.flipP99.toFixed(0)} ms (max ${r.flipMax.toFixed(0)}, ${r.flips} flips); ` +
      `SIGKILL: demoted everywhere ${r.demotedAllMs.toFixed(0)} ms (seen by ${r.demotedSeenBy}), removed everywhere ${r.removedAllMs.toFixed(0)} ms`,
  );
}
console.log('\n| N | flips | flip p50 | flip p99 | demoted everywhere | removed everywhere |');
console.log('|---|---|---|---|---|---|');
for (const r of results) {
  console.log(
    `| ${r.n} | ${r.flips} | ${r.flipP50.toFixed(0)} ms | ${r.flipP99.toFixed(0)} ms | ${r.demotedAllMs.toFixed(0)} ms (${r.demotedSeenBy}) | ${r.removedAllMs.toFixed(0)} ms |`,
  );
}
if (values.out) await writeFile(values.out, `${JSON.stringify(results, null, 2)}\n`);
