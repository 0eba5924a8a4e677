import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect, type VigilClient } from '@vigil/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, disposeAllAgents } from './harness/agent-process.ts';
import { freePort } from './harness/free-port.ts';
import { waitFor } from './harness/wait-for.ts';

// The SDK against real agents and real service processes: a steady, bounded load through
// client.fetch while the primary instance dies (its process, then its whole host), and while the
// agent the SDK talks to is down. The application must see zero failed requests.

const ECHO = fileURLToPath(new URL('../../scripts/demo/echo-server.ts', import.meta.url));
const KEY = Buffer.alloc(32, 7).toString('base64');
const ROUTING = ['--encrypt', KEY, '--failback-hold-down', '1s'];

const services = new Set<ChildProcess>();
const clients: VigilClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const s of services) s.kill('SIGKILL');
  services.clear();
  await disposeAllAgents();
});

async function echo(name: string): Promise<{ port: number; process: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [ECHO, name, String(port)], { stdio: 'ignore' });
  services.add(child);
  await waitFor(`${name} listening`, async () => (await fetch(`http://127.0.0.1:${port}/`)).ok, 10_000, 50);
  return { port, process: child };
}

async function register(a: AgentProcess, id: string, port: number, priority: number): Promise<void> {
  const res = await fetch(`${a.url}/v1/agent/service/register`, {
    method: 'PUT',
    body: JSON.stringify({
      Name: 'echo',
      ID: id,
      Port: port,
      Priority: priority,
      Check: { HTTP: `http://127.0.0.1:${port}/health`, Interval: '500ms', Status: 'passing' },
    }),
  });
  expect(res.status).toBe(200);
}

/** Sends one request every `everyMs` until stopped; records who served each and every failure. */
function load(client: VigilClient, everyMs = 20) {
  const served: string[] = [];
  const failures: string[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      try {
        const res = await client.fetch('http://echo/', { signal: AbortSignal.timeout(5_000) });
        served.push(((await res.json()) as { instance: string }).instance);
      } catch (err) {
        const cause = (err as { cause?: Error }).cause;
        failures.push(`${(err as Error).message}${cause ? `: ${cause.message}` : ''} at ${served.length}`);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    served,
    failures,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

async function cluster() {
  const a0 = await AgentProcess.start({ node: 'h0', extraArgs: ROUTING });
  const join = ['--join', `127.0.0.1:${a0.gossipPort}`];
  const [a1, a2, a3] = await Promise.all(
    ['h1', 'h2', 'h3'].map((node) => AgentProcess.start({ node, extraArgs: [...ROUTING, ...join] })),
  );
  const primary = await echo('primary');
  const b1 = await echo('backup-1');
  const b2 = await echo('backup-2');
  await register(a0, 'primary', primary.port, 0);
  await register(a1!, 'backup-1', b1.port, 1);
  await register(a2!, 'backup-2', b2.port, 1);
  await waitFor('all three echo endpoints on h3', async () => {
    const t = await a3!.get<{ endpoints: unknown[] }>('/v1/routes/echo');
    return t.status === 200 && t.body.endpoints.length === 3;
  });
  const client = await connect({ agent: a3!.url });
  clients.push(client);
  await waitFor('the client to see the primary active', () => client.resolve('echo').id === 'primary');
  return { agents: [a0, a1!, a2!, a3!] as const, primary, client };
}

const backups = (served: string[]) => served.filter((s) => s.startsWith('backup')).length;

describe('SDK failover with real agents', () => {
  it('loses no request when the primary instance process is SIGKILLed', async () => {
    const { primary, client } = await cluster();
    const traffic = load(client);
    await waitFor('traffic on the primary', () => traffic.served.filter((s) => s === 'primary').length >= 20);
    primary.process.kill('SIGKILL');
    const before = traffic.served.length;
    await waitFor('traffic moved to the backups', () => backups(traffic.served.slice(before)) >= 50, 30_000);
    await traffic.stop();
    expect(traffic.failures).toEqual([]);
  });

  it('loses no request when the primary host agent dies with its service', async () => {
    const { agents, primary, client } = await cluster();
    const traffic = load(client);
    await waitFor('traffic on the primary', () => traffic.served.filter((s) => s === 'primary').length >= 20);
    await agents[0].stop('SIGKILL');
    primary.process.kill('SIGKILL');
    const before = traffic.served.length;
    await waitFor('traffic moved to the backups', () => backups(traffic.served.slice(before)) >= 50, 30_000);
    // The routing table itself drops the primary once membership has a verdict.
    await waitFor('the primary out of the client tables', () => client.resolve('echo').id !== 'primary', 30_000);
    await traffic.stop();
    expect(traffic.failures).toEqual([]);
  });

  it('keeps routing on stale tables while its agent is down, and resyncs after a restart', async () => {
    const { agents, client } = await cluster();
    const local = agents[3];
    const traffic = load(client);
    await waitFor('some traffic', () => traffic.served.length >= 10);
    await local.stop('SIGKILL');
    await waitFor('the client to notice the agent is gone', () => client.staleness() > 1_000, 20_000);
    const during = traffic.served.length;
    await waitFor('requests served on stale tables', () => traffic.served.length >= during + 30, 20_000);
    const again = await AgentProcess.start({
      node: 'h3',
      dataDir: local.dataDir,
      gossipPort: local.gossipPort,
      httpPort: local.httpPort,
      extraArgs: ROUTING,
    });
    await waitFor('the restarted agent to route echo', async () => (await again.get('/v1/routes/echo')).status === 200);
    await waitFor('the client to resync', () => client.staleness() < 1_000, 30_000);
    await traffic.stop();
    expect(traffic.failures).toEqual([]);
    expect(traffic.served.filter((s) => s === 'primary').length).toBeGreaterThan(0);
  });
});
