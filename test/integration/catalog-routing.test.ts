import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, disposeAllAgents, runVigil } from './harness/agent-process.ts';
import { HttpTarget } from './harness/http-target.ts';
import { waitFor } from './harness/wait-for.ts';

// Real agents on loopback with the libp2p catalog (pnet on, from the shared gossip key): local
// health becomes every agent's routing table, and membership verdicts demote and then remove.

const targets: HttpTarget[] = [];
afterEach(async () => {
  await disposeAllAgents();
  await Promise.all(targets.splice(0).map((t) => t.close()));
});

interface Endpoint {
  node: string;
  id: string;
  port: number;
  state: 'active' | 'standby' | 'demoted';
  share: number;
  tier: number;
}
interface Table {
  service: string;
  redundancy: string;
  endpoints: Endpoint[];
}

const KEY = Buffer.alloc(32, 5).toString('base64');
// A short failback hold-down so a restarted primary gets traffic back within the test.
const ROUTING = ['--failback-hold-down', '2s'];

async function routes(a: AgentProcess, service: string): Promise<Table | undefined> {
  const res = await a.get<Table>(`/v1/routes/${service}`);
  return res.status === 200 ? res.body : undefined;
}

const stateOf = (t: Table | undefined, node: string) => t?.endpoints.find((e) => e.node === node)?.state ?? 'absent';

async function register(a: AgentProcess, body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${a.url}/v1/agent/service/register`, { method: 'PUT', body: JSON.stringify(body) });
  expect(res.status, await res.text()).toBe(200);
}

describe('catalog and routing across real agents', () => {
  it('spreads health, demotes on confirmed suspicion, removes on death, and restores on restart', async () => {
    const seed = await AgentProcess.start({ node: 'c0', extraArgs: [...ROUTING, '--encrypt', KEY, '--zone', 'a'] });
    const agents = [
      seed,
      ...(await Promise.all(
        ['c1', 'c2', 'c3'].map((node, i) =>
          AgentProcess.start({
            node,
            extraArgs: [
              ...ROUTING,
              '--encrypt',
              KEY,
              '--zone',
              i === 1 ? 'b' : 'a',
              '--join',
              `127.0.0.1:${seed.gossipPort}`,
            ],
          }),
        ),
      )),
    ];
    const [c0, c1, c2, c3] = agents as [AgentProcess, AgentProcess, AgentProcess, AgentProcess];
    for (let i = 0; i < 3; i++) targets.push(await HttpTarget.start());
    const check = (t: HttpTarget) => ({ HTTP: t.url, Interval: '200ms', Timeout: '1s', Status: 'passing' });
    await register(c0, { Name: 'web', ID: 'web-c0', Port: targets[0]!.port, Priority: 0, Check: check(targets[0]!) });
    await register(c1, { Name: 'web', ID: 'web-c1', Port: targets[1]!.port, Priority: 0, Check: check(targets[1]!) });
    // The backup registers once the primaries are known, so the primaries are active from the start.
    await waitFor('the primaries in every table', async () => {
      for (const a of agents) if (stateOf(await routes(a, 'web'), 'c1') !== 'active') return false;
      return true;
    });
    await register(c2, { Name: 'web', ID: 'web-c2', Port: targets[2]!.port, Priority: 1, Check: check(targets[2]!) });

    let last = '';
    await waitFor('every agent to route web to c0 and c1, with c2 on standby', async () => {
      for (const a of agents) {
        const t = await routes(a, 'web');
        last = `${a.node}: ${JSON.stringify(t?.endpoints.map((e) => [e.node, e.state, e.share]))}`;
        if (stateOf(t, 'c0') !== 'active' || stateOf(t, 'c1') !== 'active' || stateOf(t, 'c2') !== 'standby') {
          return false;
        }
      }
      return true;
    }).catch((err: Error) => {
      throw new Error(`${err.message}; ${last}`);
    });
    expect((await routes(c3, 'web'))!.redundancy).toBe('N+2');

    // The catalog plane's own figures on /metrics: a record from each of the 4 agents, 3 peers
    // allowed, records received by gossip or sync, and none refused as forged or malformed
    // ('unknown-node' may count a record that outran its member's join: anti-entropy retries it).
    const metrics = await (await fetch(`http://127.0.0.1:${c3.httpPort}/metrics`)).text();
    const metric = (line: string) =>
      Number(new RegExp(`^${line.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(metrics)?.[1]);
    expect(metric('vigil_catalog_records')).toBe(4);
    expect(metric('vigil_catalog_peers{state="allowed"}')).toBe(3);
    expect(metric('vigil_catalog_peers{state="connected"}')).toBeGreaterThanOrEqual(1);
    expect(
      metric('vigil_catalog_records_received_total{path="gossip",outcome="accepted"}') +
        metric('vigil_catalog_records_received_total{path="sync",outcome="accepted"}'),
    ).toBeGreaterThanOrEqual(3);
    for (const reason of ['malformed', 'too-large', 'wrong-signer', 'bad-signature']) {
      expect(metric(`vigil_catalog_records_rejected_total{reason="${reason}"}`), reason).toBe(0);
    }

    // A failing check on one agent reaches every agent's table.
    targets[0]!.mode = 500;
    await waitFor('c0 out of every table', async () => {
      for (const a of agents) if (stateOf(await routes(a, 'web'), 'c0') !== 'absent') return false;
      return true;
    });
    targets[0]!.mode = 200;
    await waitFor('c0 back in every table', async () => {
      for (const a of agents) if (stateOf(await routes(a, 'web'), 'c0') === 'absent') return false;
      return true;
    });

    // SIGKILL c1: every survivor demotes its instance (confirmed suspect), then removes it (dead).
    const seen = new Map<string, Set<string>>();
    await c1.stop('SIGKILL');
    const survivors = [c0, c2, c3];
    await waitFor(
      'c1 removed everywhere',
      async () => {
        let done = true;
        for (const a of survivors) {
          const state = stateOf(await routes(a, 'web'), 'c1');
          const states = seen.get(a.node) ?? new Set();
          states.add(state);
          seen.set(a.node, states);
          if (state !== 'absent') done = false;
        }
        return done;
      },
      30_000,
      50,
    );
    for (const a of survivors) expect([...seen.get(a.node)!], a.node).toContain('demoted');

    // Restart on the same address: its instance comes back everywhere.
    await AgentProcess.start({
      node: 'c1',
      dataDir: c1.dataDir,
      gossipPort: c1.gossipPort,
      extraArgs: [...ROUTING, '--encrypt', KEY, '--zone', 'a'],
    });
    await waitFor('c1 active again everywhere, and the backup back on standby after the hold-down', async () => {
      for (const a of survivors) {
        const t = await routes(a, 'web');
        if (stateOf(t, 'c1') !== 'active' || stateOf(t, 'c2') !== 'standby') return false;
      }
      return true;
    });

    // The CLI reads the same tables.
    const shown = await runVigil(['routes', 'web', '--http-addr', `127.0.0.1:${c3.httpPort}`]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^web {2}policy=active-passive {2}redundancy=N\+2/);
    const resolved = await runVigil(['resolve', 'web', '--http-addr', `127.0.0.1:${c3.httpPort}`]);
    expect(resolved.code).toBe(0);
    expect([`127.0.0.1:${targets[0]!.port}`, `127.0.0.1:${targets[1]!.port}`]).toContain(resolved.stdout.trim());
    expect((await c3.get('/v1/routes/nope')).status).toBe(404);
  });

  it('serves the Consul catalog and health shapes, with ?passing', async () => {
    const a = await AgentProcess.start({ node: 'k0', extraArgs: ['--tag', 'rack=r1'] });
    const t = await HttpTarget.start();
    targets.push(t);
    await register(a, {
      Name: 'api',
      ID: 'api-1',
      Port: t.port,
      Tags: ['v2'],
      Check: { HTTP: t.url, Interval: '200ms' },
    });
    await waitFor('api passing in the health view', async () => {
      const res = await a.get<{ Checks: { Status: string }[] }[]>('/v1/health/service/api?passing');
      return res.body.length === 1;
    });
    const services = await a.get<Record<string, string[]>>('/v1/catalog/services');
    expect(services.body).toEqual({ api: ['v2'] });
    const res = await fetch(`${a.url}/v1/health/service/api`);
    expect(res.headers.get('x-consul-index')).toMatch(/^\d+$/);
    expect(res.headers.get('x-consul-knownleader')).toBe('true');
    const [entry] = (await res.json()) as {
      Node: { Node: string; Address: string; Meta: Record<string, string> };
      Service: { ID: string; Port: number; Tags: string[] };
      Checks: { CheckID: string; Status: string }[];
    }[];
    expect(entry!.Node).toMatchObject({ Node: 'k0', Address: '127.0.0.1', Meta: { rack: 'r1' } });
    expect(entry!.Service).toMatchObject({ ID: 'api-1', Port: t.port, Tags: ['v2'] });
    expect(entry!.Checks.map((c) => c.CheckID)).toEqual(['serfHealth', 'service:api-1']);
    const flat = await a.get<{ ServiceID: string; ServicePort: number }[]>('/v1/catalog/service/api?tag=v2');
    expect(flat.body).toMatchObject([{ ServiceID: 'api-1', ServicePort: t.port }]);
    t.mode = 500;
    await waitFor(
      'api dropped by ?passing',
      async () => (await a.get<unknown[]>('/v1/health/service/api?passing')).body.length === 0,
    );
    expect((await a.get<unknown[]>('/v1/health/service/api')).body).toHaveLength(1);
  });
});
