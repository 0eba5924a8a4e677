// `npm run bench:sdk -w scripts -- [--resolves N] [--requests N] [--rounds K]`
//
// The SDK's hot paths, on loopback, in one process:
//   1. resolve(): operations per second and p99 latency. The ops run in batches of 1,000 timed
//      with hrtime; ops/s is total ops / total time, p99 is the 99th percentile of the per-op time
//      of each batch (a single resolve is too short to time alone). Measured on a 3-active +
//      2-standby table (the fast path), with a zone preference, and with one breaker open (the
//      path that checks breakers).
//   2. client.fetch overhead: the same loopback HTTP server reached by client.fetch('http://svc/')
//      (mesh: pick, origin rewrite, failover engine) and by plain undici fetch to 127.0.0.1:port,
//      each through its own undici Agent with the same defaults, requests one at a time,
//      alternating K rounds of each so that drift hits both; the ratio of the medians. The same
//      again for undici.request through client.dispatcher against plain undici.request.
// Targets (issue 6): >= 5 M resolve/s; client.fetch overhead <= 10% of the median.
// A small stub answers for the agent (GET /v1/routes and an idle /v1/events); everything is
// closed at the end.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import type { RouteTable } from '@vigil/protocol';
import { connect } from '@vigil/sdk';
import { Agent, fetch, request } from 'undici';

const { values } = parseArgs({
  options: {
    resolves: { type: 'string', default: '20000000' },
    requests: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '15' },
  },
});
const RESOLVES = Number(values.resolves);
const PER_ROUND = Number(values.requests);
const ROUNDS = Number(values.rounds);

// ---- servers -----------------------------------------------------------------------------------

const service = http.createServer((_req, res) => {
  res
    .writeHead(200, { 'content-type': 'application/json', 'content-length': '16' })
    .end('{"ok":true,"n":1}'.slice(0, 16));
});
await listen(service);
const servicePort = (service.address() as AddressInfo).port;

const ep = (id: string, port: number, state: 'active' | 'standby', share: number, zone: string, tier: number) => ({
  node: `node-${id}`,
  id,
  address: '127.0.0.1',
  port,
  zone,
  tier,
  tags: [],
  meta: {},
  health: 'passing' as const,
  state,
  share,
});
const tables: RouteTable[] = [
  {
    service: 'svc',
    policy: 'active-passive',
    panic: false,
    redundancy: 'N+0',
    endpoints: [ep('svc-0', servicePort, 'active', 1, 'z1', 0)],
  },
  {
    service: 'web',
    policy: 'active-active',
    panic: false,
    redundancy: 'N+2',
    endpoints: [
      ep('w1', 9001, 'active', 0.5, 'z1', 0),
      ep('w2', 9002, 'active', 0.3, 'z2', 0),
      ep('w3', 9003, 'active', 0.2, 'z1', 0),
      ep('w4', 9004, 'standby', 0, 'z2', 1),
      ep('w5', 9005, 'standby', 0, 'z1', 1),
    ],
  },
];
const streams = new Set<http.ServerResponse>();
const agentStub = http.createServer((req, res) => {
  if (req.url?.startsWith('/v1/routes')) {
    res
      .writeHead(200, { 'content-type': 'application/json', 'x-vigil-index': '2' })
      .end(JSON.stringify({ index: 2, tables }));
  } else if (req.url?.startsWith('/v1/events')) {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    streams.add(res);
  } else {
    res.writeHead(404).end();
  }
});
await listen(agentStub);
const client = await connect({ agent: `http://127.0.0.1:${(agentStub.address() as AddressInfo).port}` });

// ---- 1. resolve --------------------------------------------------------------------------------

function benchResolve(label: string, op: () => unknown): { opsPerSec: number; p99ns: number; p50ns: number } {
  const batch = 1_000;
  for (let i = 0; i < 200_000; i++) op(); // warm up (JIT)
  const batches = Math.max(1, Math.floor(RESOLVES / batch));
  const perOp = new Float64Array(batches);
  let total = 0n;
  let sink = 0;
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) if (op() !== undefined) sink++;
    const dt = process.hrtime.bigint() - t0;
    total += dt;
    perOp[b] = Number(dt) / batch;
  }
  if (sink === 0) throw new Error('resolve returned nothing');
  perOp.sort();
  const result = {
    opsPerSec: (batches * batch) / (Number(total) / 1e9),
    p50ns: perOp[Math.floor(batches * 0.5)]!,
    p99ns: perOp[Math.min(batches - 1, Math.floor(batches * 0.99))]!,
  };
  console.log(
    `resolve ${label.padEnd(34)} ${(result.opsPerSec / 1e6).toFixed(2).padStart(6)} M ops/s   p50 ${result.p50ns.toFixed(0).padStart(4)} ns   p99 ${result.p99ns.toFixed(0).padStart(4)} ns`,
  );
  return result;
}

console.log(`# @vigil/sdk benchmark (node ${process.version}, ${RESOLVES.toLocaleString('en')} resolves per case)`);
const fastPath = benchResolve('(3 active + 2 standby)', () => client.resolve('web'));
benchResolve('with zone preference', () => client.resolve('web', { zone: 'z2' }));
// Open w1's breaker (5 consecutive failures through call(), the default trigger).
for (let i = 0; i < 5; i++) {
  await client
    .call(
      'web',
      async (e) => {
        if (e.id === 'w1') throw new Error('down');
        return e.id;
      },
      { retries: 0 },
    )
    .catch(() => {});
}
while (client.stats().services.web!.ejected === 0) {
  await client
    .call(
      'web',
      async (e) => {
        if (e.id === 'w1') throw new Error('down');
      },
      { retries: 0 },
    )
    .catch(() => {});
}
benchResolve('with one breaker open', () => client.resolve('web'));

// ---- 2. fetch overhead ---------------------------------------------------------------------------

const plainAgent = new Agent();
const plainUrl = `http://127.0.0.1:${servicePort}/`;

async function timeRound(fn: () => Promise<void>, n: number, out: number[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
}

async function compare(label: string, plain: () => Promise<void>, mesh: () => Promise<void>) {
  for (let i = 0; i < 300; i++) {
    await plain();
    await mesh();
  }
  const p: number[] = [];
  const m: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      await timeRound(plain, PER_ROUND, p);
      await timeRound(mesh, PER_ROUND, m);
    } else {
      await timeRound(mesh, PER_ROUND, m);
      await timeRound(plain, PER_ROUND, p);
    }
  }
  const mp = median(p);
  const mm = median(m);
  console.log(
    `${label.padEnd(44)} plain median ${mp.toFixed(1).padStart(6)} µs   mesh median ${mm.toFixed(1).padStart(6)} µs   ratio ${(mm / mp).toFixed(3)}  (${(100 * (mm / mp - 1)).toFixed(1)}% overhead, ${p.length} + ${m.length} requests)`,
  );
  return { plain: mp, mesh: mm, ratio: mm / mp };
}

const fetchCmp = await compare(
  'client.fetch vs undici fetch',
  async () => {
    const res = await fetch(plainUrl, { dispatcher: plainAgent });
    await res.arrayBuffer();
  },
  async () => {
    const res = await client.fetch('http://svc/');
    await res.arrayBuffer();
  },
);
const requestCmp = await compare(
  'undici.request: client.dispatcher vs Agent',
  async () => {
    const res = await request(plainUrl, { dispatcher: plainAgent });
    await res.body.arrayBuffer();
  },
  async () => {
    const res = await request('http://svc/', { dispatcher: client.dispatcher });
    await res.body.arrayBuffer();
  },
);

const ok = fastPath.opsPerSec >= 5e6 && fetchCmp.ratio <= 1.1;
console.log(
  `targets: resolve >= 5 M ops/s: ${fastPath.opsPerSec >= 5e6 ? 'met' : 'MISSED'}; client.fetch overhead <= 10%: ${fetchCmp.ratio <= 1.1 ? 'met' : 'MISSED'} (request path ${(100 * (requestCmp.ratio - 1)).toFixed(1)}%)`,
);

// ---- cleanup -----------------------------------------------------------------------------------

await client.close();
await plainAgent.close();
for (const s of streams) s.destroy();
agentStub.closeAllConnections();
service.closeAllConnections();
await new Promise((r) => agentStub.close(r));
await new Promise((r) => service.close(r));
process.exitCode = ok ? 0 : 1;

function listen(server: http.Server): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
