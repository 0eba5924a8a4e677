// Election failover, measured on real agents on loopback, with etcd as the anchor.
//
//   node scripts/bench/election.ts [--agents 5] [--kills 20] [--switchovers 5] [--no-etcd]
//
// Vigil: N agents; three of them host `db` with "Policy": "leader" (a 3-voter group: the three
// candidates), each with an OnPromote hook that appends "<ns> <node> <token>" to one file on the
// host clock. Each round SIGKILLs the leader's agent and measures
//   promote  SIGKILL -> the new leader's OnPromote starting (its line in the file),
//   tables   SIGKILL -> every surviving agent's routing table naming the new leader (SSE `route`
//            events, timed on arrival here),
// then restarts the killed agent on its data directory and waits for the group to be whole again.
// Switchover: PUT step-down on the leader's agent -> the next OnPromote. Idle cost: CPU of each
// agent over a quiet window, voters against non-voters.
//
// etcd: a 3-member etcd cluster (heartbeat 100 ms, election 1000 ms, as Vigil's timing) and three
// `etcdctl lock --ttl 2` holders (2 s is the shortest lease this etcd grants at these timings:
// minimum TTL = 1.5 election timeouts, rounded up; `etcdctl elect` has no TTL flag in 3.4 and
// holds a 60 s session). Each round SIGKILLs the holder (its process group) and measures SIGKILL
// -> the next holder's command starting.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { VIGIL_BIN } from './clusters.ts';
import { freePort } from './free-port.ts';
import { cpuSeconds } from './proc-stats.ts';
import { type AgentEvent, followEvents, now } from './sse.ts';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '5' },
    kills: { type: 'string', default: '20' },
    switchovers: { type: 'string', default: '5' },
    'no-etcd': { type: 'boolean', default: false },
  },
});
const N = Number(values.agents);
const KILLS = Number(values.kills);
const SWITCHOVERS = Number(values.switchovers);
const CANDIDATES = 3;
/** Agents started together (then waited for) at the start. */
const START_BATCH = 5;
const KEY = Buffer.alloc(32, 5).toString('base64');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const children = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

process.on('exit', () => {
  for (const c of children) killGroup(c);
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 60_000, every = 20) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await Promise.resolve(fn()).catch(() => undefined);
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
}

const fmt = (xs: number[]) =>
  xs.length === 0
    ? 'n/a'
    : `p50 ${pct(xs, 50).toFixed(0)} ms  p99 ${pct(xs, 99).toFixed(0)} ms  max ${Math.max(...xs).toFixed(0)} ms  (n=${xs.length})`;

// ---- Vigil -------------------------------------------------------------------------------------

interface Agent {
  node: string;
  gossip: number;
  http: number;
  p2p: number;
  dataDir: string;
  config?: string;
  child?: ChildProcess;
}

function spawnAgent(a: Agent, join?: number): void {
  const args = [
    VIGIL_BIN,
    'agent',
    '--node',
    a.node,
    '--bind',
    `127.0.0.1:${a.gossip}`,
    '--http',
    `127.0.0.1:${a.http}`,
    '--p2p',
    `127.0.0.1:${a.p2p}`,
    '--data-dir',
    a.dataDir,
    '--encrypt',
    KEY,
    '--log-level',
    'warn',
    // Every agent would take the default DNS port (127.0.0.1:8600): all but the first exited.
    '--dns',
    'off',
    ...(a.config ? ['--config', a.config] : []),
    ...(join ? ['--join', `127.0.0.1:${join}`] : []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  child.once('exit', (code) => {
    children.delete(child);
    // SIGKILLed by a round: code null. Anything else is an agent that failed on its own.
    if (code !== null) console.error(`${a.node} exited with code ${code}: ${stderr.trim().split('\n').at(-1) ?? ''}`);
  });
  a.child = child;
}

async function api<T>(a: Agent, path: string, method = 'GET'): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${a.http}${path}`, { method, signal: AbortSignal.timeout(3000) });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status}`);
  return (await res.json()) as T;
}

interface GroupView {
  leader?: string;
  token: number;
  acting?: string;
  voters: { node: string }[];
}

async function promoteLines(file: string): Promise<{ ns: number; node: string; token: number }[]> {
  return (await readFile(file, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [ns, node, token] = l.split(' ');
      return { ns: Number(BigInt(ns!) / 1_000_000n), node: node!, token: Number(token) };
    });
}

async function benchVigil(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-bench-election-'));
  const promotions = join(dir, 'promote.txt');
  const hook = join(dir, 'promote.sh');
  await writeFile(hook, `#!/bin/sh\necho "$(date +%s%N) $1 $VIGIL_TOKEN" >> ${promotions}\n`, { mode: 0o755 });
  const agents: Agent[] = [];
  for (let i = 0; i < N; i++) {
    const a: Agent = {
      node: `a${i}`,
      gossip: await freePort(),
      http: await freePort(),
      p2p: await freePort(),
      dataDir: join(dir, `a${i}`),
    };
    if (i < CANDIDATES) {
      a.config = join(dir, `a${i}.json`);
      await writeFile(
        a.config,
        JSON.stringify({
          services: [{ Name: 'db', Port: 5000 + i, Policy: 'leader', OnPromote: { Args: [hook, a.node] } }],
        }),
      );
    }
    agents.push(a);
  }
  spawnAgent(agents[0]!);
  await until('a0 up', () => api(agents[0]!, '/healthz').then(() => true));
  // In batches: twenty Node processes starting at once on a 2-core host take minutes, and each
  // batch joins a cluster that is already settled.
  for (let i = 1; i < N; i += START_BATCH) {
    const batch = agents.slice(i, i + START_BATCH);
    for (const a of batch) spawnAgent(a, agents[0]!.gossip);
    await until(
      `${batch.map((a) => a.node).join(',')} up`,
      async () => (await Promise.all(batch.map((a) => api(a, '/healthz').then(() => true)))).every(Boolean),
      60_000,
      200,
    );
  }
  const observer = agents[N - 1]!;
  const groupOf = (a: Agent) => api<GroupView>(a, '/v1/elections/db');
  const whole = async () => {
    const views = await Promise.all(agents.slice(0, CANDIDATES).map(groupOf));
    const leader = views.find((v) => v.acting === 'acting');
    return leader && views.every((v) => v.leader === leader.leader && v.voters.length === CANDIDATES)
      ? leader
      : undefined;
  };
  await until('the group elected and whole', whole, 120_000, 200).catch(async (err: Error) => {
    // What each agent saw, so a group that never formed can be told apart from a slow one.
    for (const a of agents) console.error(a.node, JSON.stringify(await groupOf(a).catch((e: Error) => e.message)));
    throw err;
  });
  console.log(`vigil: ${N} agents, 3-voter group formed`);

  // Every agent's view of db's leader, from its event stream.
  const stop = new AbortController();
  const tableLeader = new Map<string, { node?: string; at: number }>();
  await Promise.all(
    agents.map((a) =>
      followEvents(
        a.http,
        (e: AgentEvent) => {
          if (e.type !== 'route') return;
          const d = e.data as { service: string; table?: { leader?: { node: string } } };
          if (d.service === 'db') tableLeader.set(a.node, { node: d.table?.leader?.node, at: e.at });
        },
        stop.signal,
      ),
    ),
  );

  // Idle cost: CPU over a quiet window, voters (one of them leading) against the rest.
  const windowMs = 10_000;
  const before = await Promise.all(agents.map((a) => cpuSeconds(a.child!.pid!)));
  await sleep(windowMs);
  const after = await Promise.all(agents.map((a) => cpuSeconds(a.child!.pid!)));
  const cpu = agents.map((a, i) => ({ node: a.node, pct: ((after[i]! - before[i]!) / (windowMs / 1000)) * 100 }));
  const leaderNow = (await whole())?.leader;
  console.log(
    `idle CPU over ${windowMs / 1000} s: ${cpu.map((c) => `${c.node}${c.node === leaderNow ? '(leader)' : agents.findIndex((a) => a.node === c.node) < CANDIDATES ? '(voter)' : ''} ${c.pct.toFixed(1)}%`).join(', ')}`,
  );

  const promote: number[] = [];
  const tables: number[] = [];
  for (let k = 0; k < KILLS; k++) {
    const g = await until('the group whole', whole, 120_000, 100);
    const victim = agents.find((a) => a.node === g.leader)!;
    const t0 = Date.now();
    const t0perf = now();
    killGroup(victim.child!);
    const next = await until(
      'a new OnPromote',
      async () => (await promoteLines(promotions)).find((l) => l.ns >= t0 && l.node !== victim.node),
      60_000,
    );
    promote.push(next.ns - t0);
    const survivors = agents.filter((a) => a !== victim);
    const seen = await until(
      'every table naming the new leader',
      () => {
        const ats = survivors.map((a) => tableLeader.get(a.node));
        return ats.every((x) => x?.node === next.node && x.at >= t0perf)
          ? Math.max(...ats.map((x) => x!.at))
          : undefined;
      },
      60_000,
    );
    tables.push(seen - t0perf);
    console.log(
      `kill ${k + 1}/${KILLS}: ${victim.node} -> ${next.node}: OnPromote +${next.ns - t0} ms, all tables +${(seen - t0perf).toFixed(0)} ms`,
    );
    spawnAgent(victim, observer.gossip);
    await until(`${victim.node} back`, () => api(victim, '/healthz').then(() => true), 60_000, 200);
    await followEvents(
      victim.http,
      (e: AgentEvent) => {
        if (e.type !== 'route') return;
        const d = e.data as { service: string; table?: { leader?: { node: string } } };
        if (d.service === 'db') tableLeader.set(victim.node, { node: d.table?.leader?.node, at: e.at });
      },
      stop.signal,
    );
  }

  const switchover: number[] = [];
  for (let s = 0; s < SWITCHOVERS; s++) {
    const g = await until('the group whole', whole, 120_000, 100);
    const leader = agents.find((a) => a.node === g.leader)!;
    const t0 = Date.now();
    await api(leader, '/v1/elections/db/step-down', 'PUT');
    const next = await until(
      'the switchover OnPromote',
      async () => (await promoteLines(promotions)).find((l) => l.ns >= t0 && l.node !== leader.node),
      30_000,
    );
    switchover.push(next.ns - t0);
    await sleep(2500);
  }
  stop.abort();

  console.log(`\nvigil, ${N} agents, 3-voter group, ${KILLS} leader SIGKILLs:`);
  console.log(`  SIGKILL -> new OnPromote start:     ${fmt(promote)}`);
  console.log(`  SIGKILL -> every table on it:       ${fmt(tables)}`);
  console.log(`  switchover (step-down -> OnPromote): ${fmt(switchover)}`);
  for (const a of agents) if (a.child) killGroup(a.child);
  await sleep(500);
  await rm(dir, { recursive: true, force: true });
}

// ---- etcd ---------------------------------------------------------------------------------------

async function benchEtcd(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-bench-etcd-'));
  const members = await Promise.all(
    [0, 1, 2].map(async (i) => ({ name: `e${i}`, client: await freePort(), peer: await freePort() })),
  );
  const initial = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
  for (const m of members) {
    const child = spawn(
      'etcd',
      [
        '--name',
        m.name,
        '--data-dir',
        join(dir, m.name),
        '--listen-client-urls',
        `http://127.0.0.1:${m.client}`,
        '--advertise-client-urls',
        `http://127.0.0.1:${m.client}`,
        '--listen-peer-urls',
        `http://127.0.0.1:${m.peer}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${m.peer}`,
        '--initial-cluster',
        initial,
        '--initial-cluster-state',
        'new',
        '--heartbeat-interval',
        '100',
        '--election-timeout',
        '1000',
        '--log-level',
        'error',
      ],
      { stdio: 'ignore', detached: true },
    );
    children.add(child);
  }
  const endpoints = members.map((m) => `127.0.0.1:${m.client}`).join(',');
  await until(
    'etcd healthy',
    async () => {
      const ok = await new Promise<boolean>((resolve) => {
        const c = spawn('etcdctl', ['--endpoints', endpoints, 'endpoint', 'health'], { stdio: 'ignore' });
        c.once('exit', (code) => resolve(code === 0));
      });
      return ok || undefined;
    },
    60_000,
    500,
  );
  const starts = join(dir, 'starts.txt');
  const cmd = join(dir, 'hold.sh');
  await writeFile(cmd, `#!/bin/sh\necho "$(date +%s%N) $1" >> ${starts}\nexec sleep 100000\n`, { mode: 0o755 });
  const holders = new Map<string, ChildProcess>();
  const startHolder = (name: string, i: number) => {
    const child = spawn(
      'etcdctl',
      ['--endpoints', `127.0.0.1:${members[i % 3]!.client}`, 'lock', '--ttl', '2', 'bench', cmd, name],
      { stdio: 'ignore', detached: true },
    );
    children.add(child);
    child.once('exit', () => children.delete(child));
    holders.set(name, child);
  };
  for (const [i, n] of ['x0', 'x1', 'x2'].entries()) startHolder(n, i);
  const lines = async () =>
    (await readFile(starts, 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [ns, who] = l.split(' ');
        return { ms: Number(BigInt(ns!) / 1_000_000n), who: who! };
      });
  const failover: number[] = [];
  for (let k = 0; k < KILLS; k++) {
    const holder = await until('an etcd lock holder', async () => (await lines()).at(-1)?.who, 60_000);
    await sleep(1000);
    const t0 = Date.now();
    killGroup(holders.get(holder)!);
    const next = await until('the next etcd holder', async () => (await lines()).find((l) => l.ms >= t0), 60_000);
    failover.push(next.ms - t0);
    console.log(`etcd kill ${k + 1}/${KILLS}: ${holder} -> ${next.who}: +${next.ms - t0} ms`);
    startHolder(holder, k);
  }
  console.log(`\netcd 3.4 (heartbeat 100 ms, election 1000 ms), etcdctl lock --ttl 2, ${KILLS} holder SIGKILLs:`);
  console.log(`  SIGKILL -> next holder's command start: ${fmt(failover)}`);
  for (const c of [...children]) killGroup(c);
  await sleep(500);
  await rm(dir, { recursive: true, force: true });
}

await benchVigil();
if (!values['no-etcd']) await benchEtcd();
process.exit(0);
