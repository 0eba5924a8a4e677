// Collective outlier detection benchmark: N real agent processes on loopback, an SDK client per
// host (in this process, each following its own host's agent), and 4 real HTTP instances of a
// service. Two phases:
//
//  1. Demotion time (trials, sharing on): per trial a fresh service with 4 instances; one instance
//     answers 503 to everyone; only two observer hosts send traffic. Measures the time from the
//     second observer's first failed request until every agent's table shows the instance demoted
//     (each agent's SSE route events, by the agent's own `at` stamp: Date.now() on the agent, as
//     the instance stamps the failure; same host, same clock), p50/p99. The same figure as this
//     process read the events is printed beside it: this process also runs the clients, instances
//     and readers, so its stalls add to it (the longest stall per trial is printed too). Then
//     every other host's client sends requests at once, as soon as every agent shows the demotion
//     (no grace period), and we count those that reached the bad instance (target 0).
//  2. Fleet cost (sharing on vs off): all N - 1 client hosts (19 at N = 20) send traffic for
//     `--duration`; one instance answers 503 throughout. Counts the requests every client failed
//     against it. Sharing off = each process learns alone (its breakers only), as Envoy does.
//
// It ends with one table: every figure of issue 15's acceptance against its target, and the wall
// time per phase.
//
// Full run (quiet machine, ~4-6 min): npm run bench:outlier -w scripts -- --n 20 --trials 30
//   --rate 20 --duration 20
// Small run (shared machine): npm run bench:outlier -w scripts -- --n 6 --trials 3 --duration 5
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect, type VigilClient } from '@vigil/sdk';
import { freePort } from './free-port.ts';
import { cpuSeconds } from './proc-stats.ts';
import { running, until } from './processes.ts';
import { followEvents, now } from './sse.ts';

const VIGIL = fileURLToPath(new URL('../../packages/agent/bin/vigil.js', import.meta.url));
const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '20' },
    trials: { type: 'string', default: '30' },
    rate: { type: 'string', default: '20' },
    duration: { type: 'string', default: '20' },
    out: { type: 'string' },
    // V8 CPU profiles of the first `--cpu-prof-agents` agents, written to this directory when they
    // exit (the bench waits for them to leave): where an agent's time goes during the trials.
    'cpu-prof': { type: 'string' },
    'cpu-prof-agents': { type: 'string', default: '3' },
  },
});
const N = Number(values.n);
const TRIALS = Number(values.trials);
const RATE = Number(values.rate);
const DURATION_S = Number(values.duration);
const KEY = Buffer.alloc(32, 7).toString('base64');
if (N < 5) throw new Error('--n must be at least 5 (4 instance hosts and an observer elsewhere)');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

/** A real HTTP instance: 200, or 503 while `bad`; counts the requests per calling host. */
interface Instance {
  readonly name: string;
  port: number;
  bad: boolean;
  /**
   * Failed (503) requests per client host, and the first one's time while bad: on this process's
   * clock (now(), as the bench reads events) and on the wall clock (Date.now(), as agents stamp
   * their events; same host, same clock).
   */
  failed: Map<string, number>;
  firstFailure: Map<string, number>;
  firstFailureWall: Map<string, number>;
  server: http.Server;
}

async function startInstance(name: string): Promise<Instance> {
  const inst: Instance = {
    name,
    port: 0,
    bad: false,
    failed: new Map(),
    firstFailure: new Map(),
    firstFailureWall: new Map(),
    server: null!,
  };
  inst.server = http.createServer((req, res) => {
    const from = String(req.headers['x-bench-host'] ?? '?');
    if (inst.bad) {
      inst.failed.set(from, (inst.failed.get(from) ?? 0) + 1);
      if (!inst.firstFailure.has(from)) {
        inst.firstFailure.set(from, now());
        inst.firstFailureWall.set(from, Date.now());
      }
      res.writeHead(503).end('bad');
      return;
    }
    res.writeHead(200).end('ok');
  });
  await new Promise<void>((r) => inst.server.listen(0, '127.0.0.1', r));
  inst.port = (inst.server.address() as AddressInfo).port;
  return inst;
}

interface Host {
  readonly name: string;
  readonly http: number;
  readonly child: ChildProcess;
}

async function startAgents(root: string): Promise<Host[]> {
  const hosts: Host[] = [];
  let seed = 0;
  for (let i = 0; i < N; i++) {
    const name = `h${i}`;
    const [gossip, httpPort, p2p] = [await freePort(), await freePort(), await freePort()];
    if (i === 0) seed = gossip;
    const args = [VIGIL, 'agent', '--node', name, '--bind', `127.0.0.1:${gossip}`, '--http', `127.0.0.1:${httpPort}`];
    args.push('--p2p', `127.0.0.1:${p2p}`, '--encrypt', KEY, '--data-dir', join(root, name), '--log-level', 'warn');
    args.push('--failback-hold-down', '0s', '--dns', 'off');
    if (i > 0) args.push('--join', `127.0.0.1:${seed}`);
    const profile = values['cpu-prof'] !== undefined && i < Number(values['cpu-prof-agents']);
    const flags = profile ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [];
    const child = spawn(process.execPath, [...flags, ...args], { stdio: 'ignore' });
    running.add(child);
    child.once('exit', () => running.delete(child));
    hosts.push({ name, http: httpPort, child });
    await sleep(50);
  }
  await until(
    `${N} agents to see ${N} members`,
    async () => {
      for (const h of hosts) {
        const ms = (await (await fetch(`http://127.0.0.1:${h.http}/v1/members`)).json()) as { status: string }[];
        if (ms.filter((m) => m.status === 'alive').length !== N) return false;
      }
      return true;
    },
    180_000,
  );
  return hosts;
}

async function register(host: Host, service: string, inst: Instance): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${host.http}/v1/agent/service/register`, {
    method: 'PUT',
    body: JSON.stringify({ Name: service, ID: `${service}-${inst.name}`, Address: '127.0.0.1', Port: inst.port }),
  });
  if (!res.ok) throw new Error(`register: ${res.status} ${await res.text()}`);
}

/**
 * Per agent: the time its table first showed `node` demoted in `service`, as the agent stamped it
 * (`demotedAt`, its wall clock) and as this process read it (`readAt`, now(): later by however
 * long this process, which also runs the clients and instances, stalled).
 */
function watchDemotion(hosts: Host[], stop: AbortSignal) {
  const demotedAt = new Map<string, Map<string, number>>(); // service/node → host → agent's stamp
  const readAt = new Map<string, Map<string, number>>(); // service/node → host → read time
  const active = new Map<string, Map<string, number>>(); // service → host → active endpoints
  return {
    demotedAt,
    readAt,
    active,
    ready: Promise.all(
      hosts.map((h) =>
        followEvents(
          h.http,
          (e) => {
            if (e.type !== 'route') return;
            const d = e.data as { service: string; table?: { endpoints: { node: string; state: string }[] } };
            const eps = d.table?.endpoints ?? [];
            const perHost = active.get(d.service) ?? new Map();
            perHost.set(h.name, eps.filter((x) => x.state === 'active').length);
            active.set(d.service, perHost);
            for (const ep of eps) {
              if (ep.state !== 'demoted') continue;
              const k = `${d.service}/${ep.node}`;
              const m = demotedAt.get(k) ?? new Map();
              const r = readAt.get(k) ?? new Map();
              if (!m.has(h.name)) {
                m.set(h.name, e.agentAt ?? Number.NaN); // an agent without stamps shows as NaN
                r.set(h.name, e.at);
              }
              demotedAt.set(k, m);
              readAt.set(k, r);
            }
          },
          stop,
        ),
      ),
    ),
  };
}

/**
 * When the ejection's quorum formed, on the observers' agents' clocks: the later of the failing
 * observers' `since` in the agent's explanation of the demotion.
 */
async function quorumTime(host: Host, service: string, node: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${host.http}/v1/routes/${service}`);
  const table = (await res.json()) as {
    demotions?: { node: string; observers?: { state: string; since: number }[] }[];
  };
  const failing = table.demotions?.find((d) => d.node === node)?.observers?.filter((o) => o.state === 'failing') ?? [];
  return failing.length === 0 ? Number.NaN : Math.max(...failing.map((o) => o.since));
}

/** Sends `count` requests from `client` at `rate`/s; returns how many ended in a 5xx or error. */
async function load(client: VigilClient, host: string, service: string, count: number, rate: number) {
  let failed = 0;
  const gap = 1000 / rate;
  const pending: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    pending.push(
      client
        .fetch(`http://${service}/`, { headers: { 'x-bench-host': host } })
        .then(async (r) => {
          await r.arrayBuffer();
          if (r.status >= 500) failed++;
        })
        .catch(() => {
          failed++;
        }),
    );
    await sleep(gap);
  }
  await Promise.all(pending);
  return failed;
}

interface Fleet {
  clientHosts: number;
  requests: number;
  failedAgainstBad: number;
  failedForUsers: number;
}
interface Results {
  n: number;
  trials: number;
  rate: number;
  durationS: number;
  demotion: {
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    readP50Ms: number;
    readP99Ms: number;
    readMaxMs: number;
    benchLagP50Ms: number;
    benchLagMaxMs: number;
    stages: Record<'report' | 'spread' | 'fanout', { p50Ms: number; maxMs: number }>;
    othersSent: number;
    othersFailedAgainstBad: number;
    agentCpuSPerTrial: number;
    agentCpuIdlePerS: number;
    benchCpuTrialsPerS: number;
    agentCpuTrialsPerS: number;
  };
  fleet: { sharingOff: Fleet; sharingOn: Fleet; reduction: number };
  phaseS: Record<string, number>;
  wallS: number;
}

/** Every figure issue 15 asks for, in one table, each against its target. */
function printTable(r: Results): void {
  const { demotion: d, fleet: f } = r;
  const yes = (ok: boolean) => (ok ? 'yes' : 'NO');
  const rows: [string, string, string, string][] = [
    ['agents (N)', String(r.n), '20', yes(r.n >= 20)],
    ['demotion trials', String(r.trials), '>= 30', yes(r.trials >= 30)],
    ['demotion p50 (2nd observer fails -> all agents demote, agent-stamped)', `${d.p50Ms} ms`, '', ''],
    ['demotion p99', `${d.p99Ms} ms`, '<= 500 ms', yes(d.p99Ms <= 500)],
    ['demotion max', `${d.maxMs} ms`, '', ''],
    ['demotion as the bench read it, p50 / p99 / max', `${d.readP50Ms} / ${d.readP99Ms} / ${d.readMaxMs} ms`, '', ''],
    ["bench process's longest stall per trial, p50 / max", `${d.benchLagP50Ms} / ${d.benchLagMaxMs} ms`, '', ''],
    [
      "  of it: 2nd observer's failure -> its agent folds it, p50 / max",
      `${d.stages.report.p50Ms} / ${d.stages.report.maxMs} ms`,
      '',
      '',
    ],
    [
      '  quorum folded -> first agent demotes, p50 / max',
      `${d.stages.spread.p50Ms} / ${d.stages.spread.maxMs} ms`,
      '',
      '',
    ],
    [
      '  first agent -> last agent demotes, p50 / max',
      `${d.stages.fanout.p50Ms} / ${d.stages.fanout.maxMs} ms`,
      '',
      '',
    ],
    ["agents' CPU per demotion trial (all agents)", `${d.agentCpuSPerTrial} s`, '', ''],
    [
      "agents' CPU per wall second, at rest / during trials",
      `${d.agentCpuIdlePerS} / ${d.agentCpuTrialsPerS} s`,
      '',
      '',
    ],
    ["bench process's CPU per wall second during trials", `${d.benchCpuTrialsPerS} s`, '', ''],
    ['other hosts: requests sent after all demoted', String(d.othersSent), '', ''],
    [
      'other hosts: of those, failed against the bad instance',
      String(d.othersFailedAgainstBad),
      '0',
      yes(d.othersFailedAgainstBad === 0),
    ],
    ['fleet: client hosts', String(f.sharingOn.clientHosts), '>= 10', yes(f.sharingOn.clientHosts >= 10)],
    ['fleet: requests per run', `${f.sharingOn.requests} (${r.rate}/s/host, ${r.durationS} s)`, '', ''],
    ['fleet: failed against bad, sharing off (Envoy)', String(f.sharingOff.failedAgainstBad), '', ''],
    ['fleet: failed against bad, sharing on', String(f.sharingOn.failedAgainstBad), '', ''],
    ['fleet: reduction (off / on)', `${f.reduction}x`, '>= 5x', yes(f.reduction >= 5)],
    [
      'fleet: failed for users after retries, off / on',
      `${f.sharingOff.failedForUsers} / ${f.sharingOn.failedForUsers}`,
      '',
      '',
    ],
    [
      'wall time (startup / demotion / fleet)',
      `${r.wallS} s (${r.phaseS.startup} / ${r.phaseS.demotion} / ${r.phaseS.fleet})`,
      '',
      '',
    ],
  ];
  const head: [string, string, string, string] = ['figure', 'value', 'target', 'met'];
  const w = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  const line = (row: readonly string[]) => `| ${row.map((x, c) => x.padEnd(w[c]!)).join(' | ')} |`;
  console.log(['', line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n'));
}

async function main() {
  const root = await mkdtemp(join(tmpdir(), 'vigil-bench-outlier-'));
  const stop = new AbortController();
  const instances = await Promise.all(['i0', 'i1', 'i2', 'i3'].map(startInstance));
  const clients: VigilClient[] = [];
  const results: Record<string, unknown> = { n: N, trials: TRIALS, rate: RATE, durationS: DURATION_S };
  const started = now();
  const phaseS: Record<string, number> = {};
  let mark = started;
  const lap = (phase: string) => {
    const t = now();
    phaseS[phase] = Math.round((t - mark) / 100) / 10;
    mark = t;
  };
  try {
    const hosts = await startAgents(root);
    const watch = watchDemotion(hosts, stop.signal);
    await watch.ready;
    lap('startup');
    const onAll = async (service: string) => {
      for (let k = 0; k < 4; k++) await register(hosts[k]!, service, instances[k]!);
      await until(
        `${service} active everywhere`,
        () => hosts.every((h) => watch.active.get(service)?.get(h.name) === 4),
        30_000,
      );
    };

    // Phase 1: demotion time, sharing on.
    const sharing = await Promise.all(hosts.map((h) => connect({ agent: `http://127.0.0.1:${h.http}` })));
    clients.push(...sharing);
    // The agents' CPU over the trials: what the catalog traffic costs, less sensitive than latency to
    // a shared host's other load.
    const agentCpu = async () =>
      (await Promise.all(hosts.map((h) => cpuSeconds(h.child.pid!)))).reduce((s, x) => s + x, 0);
    // The mesh at rest (SWIM, gossipsub heartbeats, the SDKs' streams): what every trial runs on
    // top of, on a 2-core host.
    const idleStart = await agentCpu();
    const idleWall = now();
    await sleep(5_000);
    const agentCpuIdle = ((await agentCpu()) - idleStart) / ((now() - idleWall) / 1000);
    const cpuBefore = await agentCpu();
    const trialsWall = now();
    const benchCpuBefore = process.cpuUsage();
    const latencies: number[] = []; // agent-stamped
    const readLatencies: number[] = []; // as this process read the events
    const lags: number[] = [];
    // Per trial: 2nd observer's failure -> its agent folded it (the later observer's `since`);
    // -> the first agent demoted; -> the last agent demoted.
    const stages = { report: [] as number[], spread: [] as number[], fanout: [] as number[] };
    // How long this process (clients, instances, event readers) stalled: what bench-read
    // figures count on top of the agents' own times.
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    let othersFailed = 0;
    let othersSent = 0;
    for (let t = 0; t < TRIALS; t++) {
      const service = `t${t}`;
      await onAll(service);
      await until(
        'clients hold the table',
        () => sharing.every((c) => (c.endpoints(service)?.length ?? 0) === 4),
        10_000,
      );
      const badIndex = t % 4;
      const bad = instances[badIndex]!;
      const badHost = hosts[badIndex]!.name;
      bad.failed = new Map();
      bad.firstFailure = new Map();
      bad.firstFailureWall = new Map();
      lag.reset();
      bad.bad = true;
      // Two observers on hosts without an instance... or any host but the bad one's.
      const candidates = hosts.map((_, i) => i).filter((i) => i !== badIndex);
      const [o1, o2] = [candidates[t % candidates.length]!, candidates[(t + 1) % candidates.length]!];
      const key = `${service}/${badHost}`;
      const everyone = () => watch.demotedAt.get(key)?.size === N;
      const observers = [o1, o2].map((i) =>
        (async () => {
          const deadline = Date.now() + 10_000;
          while (!everyone() && Date.now() < deadline) await load(sharing[i]!, hosts[i]!.name, service, 5, RATE);
        })(),
      );
      await Promise.all(observers);
      if (!everyone()) throw new Error(`trial ${t}: not every agent demoted ${key}`);
      const trialLagMs = lag.max / 1e6;
      const firsts = [...bad.firstFailure.values()].sort((a, b) => a - b);
      const second = firsts[1] ?? firsts[0]!;
      const firstsWall = [...bad.firstFailureWall.values()].sort((a, b) => a - b);
      const secondWall = firstsWall[1] ?? firstsWall[0]!;
      const last = Math.max(...watch.demotedAt.get(key)!.values());
      const lastRead = Math.max(...watch.readAt.get(key)!.values());
      latencies.push(last - secondWall);
      readLatencies.push(lastRead - second);
      lags.push(trialLagMs);
      // Where the time went, on the agents' clocks: the observers' agents stamp when their view
      // turned failing (the explanation's observers[].since, when the SDK's report was folded).
      const quorumAt = await quorumTime(hosts[o1]!, service, badHost);
      const firstDemoted = Math.min(...watch.demotedAt.get(key)!.values());
      stages.report.push(quorumAt - secondWall);
      stages.spread.push(firstDemoted - quorumAt);
      stages.fanout.push(last - firstDemoted);
      // Every other host (never called it) now sends, at once: from the moment every agent shows
      // the demotion, none of it may reach the bad instance (the SDKs follow the same events).
      const others = hosts.map((_, i) => i).filter((i) => i !== o1 && i !== o2);
      const before = [...bad.failed.values()].reduce((s, x) => s + x, 0);
      await Promise.all(others.map((i) => load(sharing[i]!, hosts[i]!.name, service, 20, RATE)));
      othersSent += others.length * 20;
      othersFailed += [...bad.failed.values()].reduce((s, x) => s + x, 0) - before;
      bad.bad = false;
      process.stdout.write(
        `trial ${t}: ${(last - secondWall).toFixed(0)} ms agent-stamped, ${(lastRead - second).toFixed(0)} ms ` +
          `bench-read (report+fold ${stages.report.at(-1)!.toFixed(0)}, quorum -> first agent ` +
          `${stages.spread.at(-1)!.toFixed(0)}, first -> last agent ${stages.fanout.at(-1)!.toFixed(0)} ms; ` +
          `observers' first failures ${(second - firsts[0]!).toFixed(0)} ms apart; ` +
          `bench event loop max delay ${trialLagMs.toFixed(0)} ms)\n`,
      );
    }
    lag.disable();
    results.demotion = {
      p50Ms: Math.round(pct(latencies, 50)),
      p99Ms: Math.round(pct(latencies, 99)),
      maxMs: Math.round(Math.max(...latencies)),
      readP50Ms: Math.round(pct(readLatencies, 50)),
      readP99Ms: Math.round(pct(readLatencies, 99)),
      readMaxMs: Math.round(Math.max(...readLatencies)),
      benchLagP50Ms: Math.round(pct(lags, 50)),
      benchLagMaxMs: Math.round(Math.max(...lags)),
      stages: Object.fromEntries(
        Object.entries(stages).map(([k, xs]) => [
          k,
          { p50Ms: Math.round(pct(xs, 50)), maxMs: Math.round(Math.max(...xs)) },
        ]),
      ),
      othersSent,
      othersFailedAgainstBad: othersFailed,
      agentCpuSPerTrial: Number((((await agentCpu()) - cpuBefore) / TRIALS).toFixed(2)),
      agentCpuIdlePerS: Number(agentCpuIdle.toFixed(2)),
      benchCpuTrialsPerS: Number(
        (
          (process.cpuUsage(benchCpuBefore).user + process.cpuUsage(benchCpuBefore).system) /
          1e6 /
          ((now() - trialsWall) / 1000)
        ).toFixed(2),
      ),
      agentCpuTrialsPerS: Number((((await agentCpu()) - cpuBefore) / ((now() - trialsWall) / 1000)).toFixed(2)),
    };
    lap('demotion');

    // Phase 2: fleet cost, sharing on vs off. Every host but the bad one's is a client host.
    const fleet = async (share: boolean, service: string) => {
      await onAll(service);
      const cs = share
        ? sharing
        : await Promise.all(hosts.map((h) => connect({ agent: `http://127.0.0.1:${h.http}`, observations: false })));
      if (!share) clients.push(...cs);
      await until('clients hold the table', () => cs.every((c) => (c.endpoints(service)?.length ?? 0) === 4), 10_000);
      const bad = instances[1]!;
      bad.failed = new Map();
      bad.bad = true;
      const count = RATE * DURATION_S;
      const userFailed = await Promise.all(
        hosts.slice(0).map((h, i) => (i === 1 ? 0 : load(cs[i]!, h.name, service, count, RATE))),
      );
      bad.bad = false;
      const againstBad = [...bad.failed.values()].reduce((s, x) => s + x, 0);
      return {
        clientHosts: N - 1,
        requests: (N - 1) * count,
        failedAgainstBad: againstBad,
        failedForUsers: userFailed.reduce((s, x) => s + x, 0),
      };
    };
    const off = await fleet(false, 'fleet-off');
    const on = await fleet(true, 'fleet-on');
    results.fleet = {
      sharingOff: off,
      sharingOn: on,
      reduction: Number((off.failedAgainstBad / Math.max(1, on.failedAgainstBad)).toFixed(2)),
    };
    lap('fleet');
    results.phaseS = phaseS;
    results.wallS = Math.round((now() - started) / 1000);
    printTable(results as unknown as Results);
    if (values.out) await writeFile(values.out, JSON.stringify(results, null, 2));
  } finally {
    stop.abort();
    for (const c of clients) await c.close().catch(() => {});
    for (const p of running) p.kill('SIGTERM');
    // A profiled agent writes its profile on a clean exit, after its graceful leave.
    if (values['cpu-prof'] !== undefined)
      await until('agents to exit', () => running.size === 0, 15_000).catch(() => {});
    await sleep(500);
    for (const p of running) p.kill('SIGKILL');
    for (const i of instances) {
      i.server.closeAllConnections();
      i.server.close();
    }
    await rm(root, { recursive: true, force: true });
  }
}

await main();
