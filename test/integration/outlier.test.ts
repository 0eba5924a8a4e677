import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type VigilClient } from '@vigil/sdk';
import { Agent, buildConnector } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, disposeAllAgents } from './harness/agent-process.ts';
import { waitFor } from './harness/wait-for.ts';

// Collective outlier detection with real agent processes: five agents, a service `web` with four
// instances (one per host h0..h3), SDK clients on several hosts. The instances are HTTP servers in
// this process (real sockets); each counts the requests it gets per calling host.

const KEY = Buffer.alloc(32, 9).toString('base64');
const ARGS = [
  '--encrypt',
  KEY,
  '--failback-hold-down',
  '0s',
  '--outlier-window',
  '1s',
  '--outlier-base-ejection',
  '3s',
];

interface Instance {
  readonly id: string;
  port: number;
  status: number;
  readonly hits: Map<string, number>;
  server: http.Server;
}

const instances: Instance[] = [];
const clients: VigilClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const i of instances.splice(0)) {
    i.server.closeAllConnections();
    await new Promise((r) => i.server.close(r));
  }
  await disposeAllAgents();
});

async function instance(id: string): Promise<Instance> {
  const inst: Instance = { id, port: 0, status: 200, hits: new Map(), server: null! };
  inst.server = http.createServer((req, res) => {
    const from = String(req.headers['x-from'] ?? '?');
    inst.hits.set(from, (inst.hits.get(from) ?? 0) + 1);
    res.writeHead(inst.status, { 'content-type': 'application/json' }).end(JSON.stringify({ instance: id }));
  });
  await new Promise<void>((r) => inst.server.listen(0, '127.0.0.1', r));
  inst.port = (inst.server.address() as AddressInfo).port;
  instances.push(inst);
  return inst;
}

async function cluster() {
  const h0 = await AgentProcess.start({ node: 'h0', extraArgs: ARGS });
  const join = ['--join', `127.0.0.1:${h0.gossipPort}`];
  // At once, each with a longer start-up wait than start()'s: four agents starting together on a
  // loaded 2-core host can take a while to answer (one at a time they took longer in all).
  const rest = await Promise.all(
    ['h1', 'h2', 'h3', 'h4'].map(async (node) => {
      const agent = await AgentProcess.spawn({ node, extraArgs: [...ARGS, ...join] });
      await agent.waitForHttp(60_000);
      return agent;
    }),
  );
  const agents = [h0, ...rest];
  const web: Instance[] = [];
  for (let k = 0; k < 4; k++) {
    const inst = await instance(`w${k}`);
    web.push(inst);
    const res = await fetch(`${agents[k]!.url}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ Name: 'web', ID: inst.id, Address: '127.0.0.1', Port: inst.port }),
    });
    expect(res.status).toBe(200);
  }
  await waitFor('four active web endpoints on every agent', async () => {
    for (const a of agents) {
      const t = await a.get<{ endpoints: { state: string }[] }>('/v1/routes/web');
      if (t.status !== 200 || t.body.endpoints.filter((e) => e.state === 'active').length !== 4) return false;
    }
    return true;
  });
  return { agents, web };
}

async function client(agent: AgentProcess, extra: Parameters<typeof connect>[0] = {}): Promise<VigilClient> {
  const c = await connect({ agent: agent.url, ...extra });
  clients.push(c);
  await waitFor('the client to hold four web endpoints', () => c.endpoints('web')?.length === 4);
  return c;
}

/** `count` sequential GETs from host `from`; returns the statuses the application saw. */
async function send(c: VigilClient, from: string, count: number): Promise<(number | string)[]> {
  const out: (number | string)[] = [];
  for (let i = 0; i < count; i++) {
    try {
      const res = await c.fetch('http://web/', { headers: { 'x-from': from } });
      await res.arrayBuffer();
      out.push(res.status);
    } catch (err) {
      out.push((err as Error).name);
    }
  }
  return out;
}

type Explained = {
  endpoints: { node: string; id: string; state: string }[];
  demotions?: { node: string; id: string; reason: string; observers?: { node: string; http5xx: number }[] }[];
};

const stateOf = async (a: AgentProcess, id: string) =>
  (await a.get<Explained>('/v1/routes/web')).body.endpoints.find((e) => e.id === id)?.state;

describe('collective outlier detection (real agents)', () => {
  it('two hosts seeing 503s eject the instance for every host; it returns when it recovers', async () => {
    const { agents, web } = await cluster();
    const [c1, c4, c2, c3] = await Promise.all([
      client(agents[1]!),
      client(agents[4]!),
      client(agents[2]!),
      client(agents[3]!),
    ]);
    const bad = web[0]!;
    bad.status = 503;
    // Only h1 and h4 call the service while w0 fails.
    await waitFor(
      'every agent to demote w0',
      async () => {
        await Promise.all([send(c1, 'h1', 5), send(c4, 'h4', 5)]);
        for (const a of agents) if ((await stateOf(a, 'w0')) !== 'demoted') return false;
        return true;
      },
      30_000,
      0,
    );
    const explained = (await agents[2]!.get<Explained>('/v1/routes/web')).body;
    const why = explained.demotions?.find((d) => d.id === 'w0');
    expect(why?.reason).toBe('outlier');
    expect(why?.observers?.map((o) => o.node).sort()).toEqual(['h1', 'h4']);
    expect(why?.observers?.every((o) => o.http5xx > 0)).toBe(true);
    // h2 and h3 never called w0: their clients avoid it altogether.
    await waitFor('c2 and c3 to see w0 demoted', () =>
      [c2, c3].every((c) => c.endpoints('web')?.find((e) => e.id === 'w0')?.state === 'demoted'),
    );
    const statuses = [...(await send(c2, 'h2', 40)), ...(await send(c3, 'h3', 40))];
    expect(new Set(statuses)).toEqual(new Set([200]));
    expect(bad.hits.get('h2') ?? 0).toBe(0);
    expect(bad.hits.get('h3') ?? 0).toBe(0);
    // It recovers: the ejection ends (3 s) and traffic returns to it, from hosts that never failed.
    bad.status = 200;
    await waitFor('w0 active again on every agent', async () => {
      for (const a of agents) if ((await stateOf(a, 'w0')) !== 'active') return false;
      return true;
    });
    await waitFor('traffic from h2 reaching w0 again', async () => {
      await send(c2, 'h2', 10);
      return (bad.hits.get('h2') ?? 0) > 0;
    });
  });

  it('a client that alone sees failures ejects the instance for itself, not for the mesh', async () => {
    const { agents, web } = await cluster();
    const victim = web[1]!;
    // A fault injected only in this client: its connections to w1 are refused (a local firewall).
    const connector = buildConnector({});
    const broken = new Agent({
      connect: (opts, callback) => {
        if (Number(opts.port) === victim.port) {
          callback(Object.assign(new Error('connect ECONNREFUSED (injected)'), { code: 'ECONNREFUSED' }), null);
          return;
        }
        connector(opts, callback);
      },
    });
    const lonely = await client(agents[3]!, { dispatcher: broken, breaker: { consecutiveFailures: 2 } });
    const healthy = await client(agents[4]!);
    const statuses = await send(lonely, 'h3', 60);
    expect(new Set(statuses)).toEqual(new Set([200])); // retries went elsewhere
    const mine = lonely.stats().services.web!.endpoints.find((e) => e.key === 'h1/w1')!;
    expect(mine.state).not.toBe('closed');
    // Its agent heard about it and holds (and publishes) h3's opinion: w1 is failing ...
    await waitFor('h3 to see w1 failing', async () => {
      const ops = (await agents[3]!.get<{ id: string; transitions: { state: string }[] }[]>('/v1/agent/opinions')).body;
      return ops.find((o) => o.id === 'w1')?.transitions.at(-1)?.state === 'failing';
    });
    // ... yet no agent demotes w1 (one observer), and the other client keeps using it.
    await new Promise((r) => setTimeout(r, 1_500));
    for (const a of agents) expect(await stateOf(a, 'w1')).toBe('active');
    await send(healthy, 'h4', 40);
    expect(victim.hits.get('h4') ?? 0).toBeGreaterThan(0);
    await broken.close();
  });

  it("with an ACL token, counts a client's reports only when they carry it", async () => {
    const token = 'sesame';
    const agent = await AgentProcess.start({ node: 't0', extraArgs: [...ARGS, '--acl-token', token] });
    const w = await instance('w0');
    w.status = 503;
    const reg = await fetch(`${agent.url}/v1/agent/service/register`, {
      method: 'PUT',
      headers: { 'x-vigil-token': token },
      body: JSON.stringify({ Name: 'web', ID: w.id, Address: '127.0.0.1', Port: w.port }),
    });
    expect(reg.status).toBe(200);
    const opinions = async () => (await agent.get<{ id: string }[]>('/v1/agent/opinions')).body;
    const connected = async (t: string) => {
      const c = await connect({ agent: agent.url, token: t });
      clients.push(c);
      await waitFor('the client to hold the web endpoint', () => c.endpoints('web')?.length === 1);
      return c;
    };

    // Another local process without the agent's token: its reports are refused, whatever they say.
    const stranger = await connected('not-it');
    expect(new Set(await send(stranger, 't0', 5))).toEqual(new Set([503]));
    await waitFor('the refused report', () => (stranger.stats().observations?.failedBatches ?? 0) > 0);
    expect(stranger.stats().observations?.sent).toBe(0);
    expect(await opinions()).toEqual([]);

    const member = await connected(token);
    await send(member, 't0', 5);
    await waitFor('the agent to hold an opinion of w0', async () => (await opinions()).some((o) => o.id === 'w0'));
    expect(member.stats().observations?.failedBatches).toBe(0);
  });
});
