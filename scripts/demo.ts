// `npm start`: a local Vigil cluster on loopback and an application that keeps working while the
// primary host dies. 5 agents; an HTTP service `echo` with a primary (tier 0, zone east) and two
// backups (tier 1, zone west); a client sends a steady, bounded stream of requests through
// the SDK's mesh-aware fetch and prints which instance served each. The demo SIGKILLs the primary's
// agent together with its service, brings both back, and stops by itself, cleaning up every
// process and temporary directory (on Ctrl-C too).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@vigil/sdk';

const VIGIL = fileURLToPath(new URL('../packages/agent/bin/vigil.js', import.meta.url));
const ECHO = fileURLToPath(new URL('./demo/echo-server.ts', import.meta.url));
const BASE = Number(process.env.VIGIL_DEMO_PORT ?? 17900);
const REQUEST_EVERY_MS = 100;
// Measured from the first request.
const KILL_AT_MS = 5_000;
const RESTART_AT_MS = 13_000;
const STOP_AT_MS = 28_000;
const HOLD_DOWN = '5s';

const ports = (i: number) => ({ gossip: BASE + i * 10, http: BASE + i * 10 + 1, p2p: BASE + i * 10 + 2 });
const ECHO_PORTS = { 'echo-primary': BASE + 100, 'echo-backup-1': BASE + 101, 'echo-backup-2': BASE + 102 };
const KEY = Buffer.alloc(32, 42).toString('base64'); // a fixed demo key; use `vigil keygen` for real ones

const root = await mkdtemp(join(tmpdir(), 'vigil-demo-'));
const children = new Set<ChildProcess>();
const agents = new Map<number, ChildProcess>();
const echoes = new Map<string, ChildProcess>();

const t0 = Date.now();
const stamp = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s`;
const say = (msg: string) => console.log(`${stamp()}  ${msg}`);

function run(args: string[], quiet = true): ChildProcess {
  const child = spawn(process.execPath, args, { stdio: quiet ? 'ignore' : 'inherit' });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function startAgent(i: number): void {
  const p = ports(i);
  const zone = i === 1 || i === 2 ? 'west' : 'east';
  const args = [VIGIL, 'agent', '--node', `agent-${i}`, '--bind', `127.0.0.1:${p.gossip}`];
  args.push('--http', `127.0.0.1:${p.http}`, '--p2p', `127.0.0.1:${p.p2p}`, '--zone', zone);
  args.push('--data-dir', join(root, `agent-${i}`), '--encrypt', KEY, '--failback-hold-down', HOLD_DOWN);
  args.push('--log-level', 'warn', '--log-format', 'json', '--dns', 'off');
  if (i > 0) args.push('--join', `127.0.0.1:${ports(0).gossip}`);
  agents.set(i, run(args));
}

function startEcho(name: keyof typeof ECHO_PORTS): void {
  echoes.set(name, run([ECHO, name, String(ECHO_PORTS[name])]));
}

async function api(i: number, path: string, body?: unknown): Promise<Response> {
  return fetch(
    `http://127.0.0.1:${ports(i).http}${path}`,
    body === undefined ? {} : { method: 'PUT', body: JSON.stringify(body) },
  );
}

async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    const exits = [...children].map((c) => new Promise((r) => c.once('exit', r)));
    for (const c of children) c.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const c of children) c.kill('SIGKILL');
    }, 5_000);
    await Promise.all(exits);
    clearTimeout(timer);
    await rm(root, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log('\nstopping: ending every process and removing temporary files');
    void cleanup().then(() => process.exit(130));
  });
}

try {
  say('starting 5 agents on loopback (gossip encrypted, libp2p behind pnet)');
  for (let i = 0; i < 5; i++) startAgent(i);
  for (const name of Object.keys(ECHO_PORTS) as (keyof typeof ECHO_PORTS)[]) startEcho(name);
  await until('every agent to see 5 members', async () => {
    for (let i = 0; i < 5; i++) {
      const members = (await (await api(i, '/v1/members')).json()) as { status: string }[];
      if (members.filter((m) => m.status === 'alive').length !== 5) return false;
    }
    return true;
  });
  const service = (name: keyof typeof ECHO_PORTS, priority: number) => ({
    Name: 'echo',
    ID: name,
    Port: ECHO_PORTS[name],
    Priority: priority,
    Check: { HTTP: `http://127.0.0.1:${ECHO_PORTS[name]}/health`, Interval: '1s', Status: 'passing' },
  });
  await api(0, '/v1/agent/service/register', service('echo-primary', 0));
  await api(1, '/v1/agent/service/register', service('echo-backup-1', 1));
  await api(2, '/v1/agent/service/register', service('echo-backup-2', 1));
  await until('the echo routes on agent-3', async () => {
    const t = (await (await api(3, '/v1/routes/echo')).json()) as { endpoints?: unknown[] };
    return t.endpoints?.length === 3;
  });

  console.log('');
  for (let i = 0; i < 5; i++) console.log(`  agent-${i}  API http://127.0.0.1:${ports(i).http}/v1/routes/echo`);
  console.log(`  dashboard and events: http://127.0.0.1:${ports(3).http}/v1/events (SSE)`);
  console.log('');

  const mesh = await connect({ agent: `http://127.0.0.1:${ports(3).http}` });
  say('client: connected to agent-3; sending a request every 100 ms to http://echo/');
  let ok = 0;
  let failed = 0;
  const servedBy = new Map<string, number>();
  let killed = false;
  let restarted = false;
  const trafficStart = Date.now();
  while (Date.now() < trafficStart + STOP_AT_MS) {
    const elapsed = Date.now() - trafficStart;
    if (!killed && elapsed >= KILL_AT_MS) {
      killed = true;
      say('>>> SIGKILL agent-0 and echo-primary (the primary host dies)');
      agents.get(0)?.kill('SIGKILL');
      echoes.get('echo-primary')?.kill('SIGKILL');
    }
    if (!restarted && elapsed >= RESTART_AT_MS) {
      restarted = true;
      say(`>>> restarting agent-0 and echo-primary; traffic fails back after the ${HOLD_DOWN} hold-down`);
      startEcho('echo-primary');
      startAgent(0);
    }
    try {
      const res = await mesh.fetch('http://echo/hello', { signal: AbortSignal.timeout(3_000) });
      const body = (await res.json()) as { instance: string };
      ok++;
      servedBy.set(body.instance, (servedBy.get(body.instance) ?? 0) + 1);
      say(`request ${String(ok + failed).padStart(3)} -> ${body.instance}`);
    } catch (err) {
      failed++;
      say(`request ${String(ok + failed).padStart(3)} FAILED: ${(err as Error).message}`);
    }
    await new Promise((r) => setTimeout(r, REQUEST_EVERY_MS));
  }
  await mesh.close();
  console.log('');
  say(`done: ${ok} requests served, ${failed} failed`);
  for (const [instance, n] of [...servedBy].sort()) console.log(`        ${instance.padEnd(14)} ${n}`);
} finally {
  await cleanup();
  say('all processes stopped and temporary files removed');
}
