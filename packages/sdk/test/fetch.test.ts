/**
 * The mesh-aware HTTP path: client.fetch and the exported undici dispatcher, against real HTTP
 * servers as service instances. A FakeAgent (test/helpers/fake-agent.ts) serves the routing tables;
 * the real-agent end-to-end test (SIGKILLed hosts, membership convergence) comes with the demo.
 */
import { getGlobalDispatcher, setGlobalDispatcher, fetch as undiciFetch, request as undiciRequest } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connect, type VigilClient } from '../src/index.ts';
import { FakeAgent, table } from './helpers/fake-agent.ts';
import { type Instance, startInstance } from './helpers/instances.ts';

let agent: FakeAgent;
let client: VigilClient;
let a: Instance;
let b: Instance;
let standby: Instance;
const extra: Instance[] = [];

async function instance(name: string): Promise<Instance> {
  const i = await startInstance(name);
  extra.push(i);
  return i;
}

function echoTable(service: string, active: Instance[], backup?: Instance) {
  return table(service, [
    ...active.map((i) => ({ id: i.name, port: i.port, share: 1 / active.length })),
    ...(backup ? [{ id: backup.name, port: backup.port, state: 'standby' as const, tier: 1 }] : []),
  ]);
}

beforeAll(async () => {
  a = await startInstance('a');
  b = await startInstance('b');
  standby = await startInstance('standby');
  agent = new FakeAgent();
  agent.setTable(echoTable('echo', [a, b], standby));
  await agent.start();
  client = await connect({ agent: agent.url, defaults: { backoff: { baseMs: 1, maxMs: 10 } } });
});

afterAll(async () => {
  await client.close();
  await agent.stop();
  for (const i of [a, b, standby, ...extra]) await i.close().catch(() => {});
});

beforeEach(() => {
  for (const i of [a, b, standby]) i.mode = 'ok';
});

async function meshService(name: string, active: Instance[], backup?: Instance): Promise<void> {
  agent.setTable(echoTable(name, active, backup));
  const until = Date.now() + 5_000;
  while (client.endpoints(name)?.length !== active.length + (backup ? 1 : 0)) {
    if (Date.now() > until) throw new Error(`the client never saw ${name}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('client.fetch', () => {
  it('reaches an instance of the service named by the host, with the path and the Host header kept', async () => {
    const res = await client.fetch('http://echo/hello?x=1');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { instance: string; path: string };
    expect(['a', 'b']).toContain(body.instance);
    expect(body.path).toBe('/hello?x=1');
    const hosts = [...a.hosts, ...b.hosts];
    expect(hosts.at(-1)).toBe('echo');
  });

  it('loses no request when an instance is closed mid-run (another is healthy)', async () => {
    const x = await instance('x');
    const y = await instance('y');
    await meshService('steady', [x, y]);
    const served: Record<string, number> = {};
    const failures: unknown[] = [];
    let sent = 0;
    const total = 400;
    const worker = async () => {
      while (sent < total) {
        sent++;
        if (sent === 150) void x.close();
        try {
          const res = await client.fetch('http://steady/work');
          if (res.status !== 200) failures.push(res.status);
          const { instance: name } = (await res.json()) as { instance: string };
          served[name] = (served[name] ?? 0) + 1;
        } catch (err) {
          failures.push(err);
        }
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    expect(failures).toEqual([]);
    expect((served.x ?? 0) + (served.y ?? 0)).toBe(total);
    expect(served.x).toBeGreaterThan(20);
    expect(served.y).toBeGreaterThan(200);
    const xStats = client.stats().services.steady!.endpoints.find((e) => e.key.endsWith('/x'))!;
    expect(xStats.failures).toBeGreaterThan(0);
    expect(xStats.state).toBe('open');
    expect(client.stats().services.steady!.retries).toBeGreaterThan(0);
  });

  it('retries a 503 on another instance, and returns the last 503 when every instance answers it', async () => {
    a.mode = '503';
    for (let i = 0; i < 10; i++) {
      const res = await client.fetch('http://echo/', { mesh: { retries: 1 } });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { instance: string }).instance).not.toBe('a');
    }
    const p = await instance('p');
    const q = await instance('q');
    p.mode = '503';
    q.mode = '503';
    await meshService('busy', [p, q]);
    const res = await client.fetch('http://busy/', { mesh: { retries: 1 } });
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(/unavailable/);
    expect(p.hits + q.hits).toBe(2);
  });

  it('fails a per-attempt timeout over to another instance', async () => {
    const slow = await instance('slow');
    const quick = await instance('quick');
    slow.mode = 'hang';
    await meshService('timed', [slow, quick]);
    const started = Date.now();
    for (let i = 0; i < 5; i++) {
      const res = await client.fetch('http://timed/', { mesh: { timeoutMs: 100 } });
      expect(((await res.json()) as { instance: string }).instance).toBe('quick');
    }
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("aborts on the caller's signal", async () => {
    const stuck = await instance('stuck');
    stuck.mode = 'hang';
    await meshService('stuck', [stuck]);
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 50);
    await expect(client.fetch('http://stuck/', { signal: ctl.signal })).rejects.toThrow(/abort/i);
  });

  it('passes hosts that are not mesh services through unchanged', async () => {
    const res = await client.fetch(`http://127.0.0.1:${a.port}/direct`);
    expect(((await res.json()) as { instance: string; path: string }).path).toBe('/direct');
    expect(a.hosts.at(-1)).toBe(`127.0.0.1:${a.port}`);
  });
});

describe('non-idempotent requests and bodies', () => {
  it('does not resend a POST after the connection broke mid-request', async () => {
    const r1 = await instance('r1');
    const r2 = await instance('r2');
    r1.mode = 'reset';
    r2.mode = 'reset';
    await meshService('reset', [r1, r2]);
    await expect(client.fetch('http://reset/pay', { method: 'POST', body: 'charge 10' })).rejects.toThrow();
    expect(r1.hits + r2.hits).toBe(1);
    // PUT is idempotent, and so is a POST with an Idempotency-Key: both are retried.
    await expect(
      client.fetch('http://reset/pay', { method: 'PUT', body: 'x', mesh: { retries: 1 } }),
    ).rejects.toThrow();
    expect(r1.hits + r2.hits).toBe(3);
    await expect(
      client.fetch('http://reset/pay', {
        method: 'POST',
        body: 'x',
        headers: { 'idempotency-key': 'k1' },
        mesh: { retries: 1 },
      }),
    ).rejects.toThrow();
    expect(r1.hits + r2.hits).toBe(5);
  });

  it('resends a POST, body and all, when the connection was refused', async () => {
    const gone = await instance('gone');
    const live = await instance('live');
    await gone.close();
    await meshService('refused', [gone, live]);
    for (let i = 0; i < 5; i++) {
      const res = await client.fetch('http://refused/pay', { method: 'POST', body: JSON.stringify({ n: i }) });
      expect(res.status).toBe(200);
    }
    expect(live.bodies).toEqual([0, 1, 2, 3, 4].map((n) => JSON.stringify({ n })));
  });

  it('sends a streamed body larger than the replay limit once, without retries', async () => {
    const big1 = await instance('big1');
    const big2 = await instance('big2');
    big1.mode = '503';
    big2.mode = '503';
    await meshService('big', [big1, big2]);
    const payload = 'x'.repeat(100_000);
    const res = await client.fetch('http://big/upload', { method: 'PUT', body: payload, mesh: { retries: 3 } });
    expect(res.status).toBe(503);
    expect(big1.hits + big2.hits).toBe(1);
    expect([...big1.bodies, ...big2.bodies][0]).toHaveLength(100_000);
    const small = await client.fetch('http://big/upload', { method: 'PUT', body: 'small', mesh: { retries: 3 } });
    expect(small.status).toBe(503);
    expect(big1.hits + big2.hits).toBe(1 + 4);
  });
});

describe('the exported dispatcher', () => {
  it('works with undici.request and fails over there too', async () => {
    const d1 = await instance('d1');
    const d2 = await instance('d2');
    await meshService('disp', [d1, d2]);
    await d1.close();
    for (let i = 0; i < 10; i++) {
      const res = await undiciRequest('http://disp/r', { dispatcher: client.dispatcher });
      expect(res.statusCode).toBe(200);
      expect(((await res.body.json()) as { instance: string }).instance).toBe('d2');
    }
    const raw = await undiciRequest('http://disp/raw', { dispatcher: client.dispatcher, responseHeaders: 'raw' });
    expect(JSON.stringify(raw.headers)).toMatch(/application\/json/);
    await raw.body.dump();
  });

  it("works with undici's fetch, and as the global dispatcher (Node's fetch included)", async () => {
    const res = await undiciFetch('http://echo/f', { dispatcher: client.dispatcher });
    expect(res.status).toBe(200);
    const previous = getGlobalDispatcher();
    setGlobalDispatcher(client.dispatcher);
    try {
      const viaUndici = await undiciFetch('http://echo/g');
      expect(((await viaUndici.json()) as { path: string }).path).toBe('/g');
      const viaNode = await globalThis.fetch('http://echo/h');
      expect(((await viaNode.json()) as { path: string }).path).toBe('/h');
      const passthrough = await globalThis.fetch(`http://127.0.0.1:${b.port}/i`);
      expect(passthrough.status).toBe(200);
    } finally {
      setGlobalDispatcher(previous);
    }
  });
});
