/**
 * Which hosts the mesh takes: a service name must never capture a host the application means
 * literally. Real instances and a FakeAgent serving the tables; the base dispatcher resolves every
 * name to 127.0.0.1 (a `lookup` on its sockets), so "reached through DNS" stays on loopback.
 */
import type { LookupFunction } from 'node:net';
import { Agent, request as undiciRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, MeshHosts, UnknownServiceError, type VigilClient } from '../src/index.ts';
import { FakeAgent, table, until } from './helpers/fake-agent.ts';
import { type Instance, startInstance } from './helpers/instances.ts';

const toLoopback: LookupFunction = (_host, options, callback) => {
  if ((options as { all?: boolean }).all)
    (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [
      { address: '127.0.0.1', family: 4 },
    ]);
  else callback(null, '127.0.0.1', 4);
};

let agent: FakeAgent;
let client: VigilClient;
let literal: Instance;
let service: Instance;
const base = new Agent({ connect: { lookup: toLoopback } });

beforeAll(async () => {
  literal = await startInstance('literal');
  service = await startInstance('service');
  agent = new FakeAgent();
  // Services an agent somewhere in the cluster registered, named like hosts the application uses.
  for (const name of ['localhost', 'api.example.com', 'db', 'pay.v2', 'orders']) {
    agent.setTable(table(name, [{ id: `${name}-1`, port: service.port, share: 1 }]));
  }
  await agent.start();
  client = await connect({
    agent: agent.url,
    dispatcher: base,
    meshHosts: { exclude: ['DB'], allowDotted: ['pay.v2'] },
  });
  await until(() => client.services().length === 5, 'the tables');
});

afterAll(async () => {
  await client.close();
  await base.close();
  await agent.stop();
  await literal.close();
  await service.close();
});

const instanceOf = async (res: Response) => ((await res.json()) as { instance: string }).instance;

describe('the mesh and literal hosts', () => {
  it('never sends localhost, a dotted name or an excluded name to a service of that name', async () => {
    for (const host of ['localhost', 'LocalHost', 'api.example.com', 'db']) {
      const res = await client.fetch(`http://${host}:${literal.port}/x`);
      expect(await instanceOf(res), host).toBe('literal');
    }
    // The exported dispatcher (what setGlobalDispatcher installs) follows the same rule.
    const viaDispatcher = await undiciRequest(`http://localhost:${literal.port}/y`, { dispatcher: client.dispatcher });
    expect(((await viaDispatcher.body.json()) as { instance: string }).instance).toBe('literal');
    expect(literal.hosts.at(-1)).toBe(`localhost:${literal.port}`);
  });

  it('takes dotless names and the dotted names it is told to', async () => {
    expect(await instanceOf(await client.fetch('http://orders/o'))).toBe('service');
    expect(await instanceOf(await client.fetch('http://pay.v2/p'))).toBe('service');
    expect(service.hosts.at(-1)).toBe('pay.v2');
  });

  it('fails an unknown mesh host with UnknownServiceError, never a DNS lookup', async () => {
    const hits = literal.hits;
    const err = await client.fetch(`http://nosuch:${literal.port}/`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnknownServiceError);
    expect((err as UnknownServiceError).service).toBe('nosuch');
    expect((err as Error).message).toMatch(/known: .*orders/);
    const viaDispatcher = await undiciRequest(`http://nosuch:${literal.port}/`, {
      dispatcher: client.dispatcher,
    }).catch((e: unknown) => e);
    expect(viaDispatcher).toBeInstanceOf(UnknownServiceError);
    // The name resolves (every name does here), yet nothing went to it.
    expect(literal.hits).toBe(hits);
  });
});

describe('MeshHosts', () => {
  const hosts = new MeshHosts({ allowDotted: ['Svc.Internal'], exclude: ['intranet'] });
  it('takes dotless service names', () => {
    for (const h of ['payments', 'a-b_c', 'svc.internal']) expect(hosts.takes(h), h).toBe(true);
  });
  it('leaves localhost, IP literals, dotted and excluded names alone', () => {
    for (const h of [
      'localhost',
      'app.localhost',
      '127.0.0.1',
      '10.0.0.1',
      '[::1]',
      '::1',
      'a.b',
      'payments.',
      'intranet',
      'INTRANET',
      '',
    ]) {
      expect(hosts.takes(h), h).toBe(false);
    }
  });
});
