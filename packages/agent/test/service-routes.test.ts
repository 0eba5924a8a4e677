import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer } from '../src/http/server.ts';
import { registerServiceRoutes } from '../src/http/service-routes.ts';
import { type RegistryOptions, ServiceRegistry } from '../src/services/registry.ts';

const log = pino({ level: 'silent' });
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(opts: { aclToken?: string } & Partial<RegistryOptions> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-routes-'));
  const registry = await ServiceRegistry.open({
    dataDir: dir,
    node: 'n1',
    zone: 'z1',
    log,
    firstRunDelayMs: 0,
    ...opts,
  });
  registry.start();
  const app: FastifyInstance = createHttpServer(log);
  registerServiceRoutes(app, { registry, node: 'n1', datacenter: 'dc1', aclToken: opts.aclToken });
  await app.ready();
  cleanups.push(async () => {
    await app.close();
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const put = (url: string, body?: unknown, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'PUT',
      url,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
  const get = async (url: string) => {
    const res = await app.inject({ method: 'GET', url });
    return { status: res.statusCode, body: res.json(), headers: res.headers };
  };
  const stored = async () => {
    try {
      return JSON.parse(await readFile(join(dir, 'services.json'), 'utf8')).services as unknown[];
    } catch {
      return [];
    }
  };
  return { app, registry, put, get, stored, dir };
}

describe('PUT /v1/agent/service/register', () => {
  it('registers a Consul-shaped body and lists it in Consul shapes', async () => {
    const { put, get } = await setup();
    const res = await put('/v1/agent/service/register', {
      ID: 'web-1',
      Name: 'web',
      Address: '10.0.0.1',
      Port: 8080,
      Tags: ['v2'],
      Meta: { team: 'a' },
      Priority: 1,
      Check: { TTL: '30s', CheckID: 'web-ttl', Notes: 'heartbeat' },
    });
    expect(res.statusCode).toBe(200);
    const services = await get('/v1/agent/services');
    expect(services.body).toEqual({
      'web-1': {
        ID: 'web-1',
        Service: 'web',
        Tags: ['v2'],
        Meta: { team: 'a' },
        Port: 8080,
        Address: '10.0.0.1',
        TaggedAddresses: {},
        Weights: { Passing: 1, Warning: 1 },
        EnableTagOverride: false,
        Datacenter: 'dc1',
        Priority: 1,
        Zone: 'z1',
        Policy: 'active-passive',
      },
    });
    expect(Number(services.headers['x-consul-index'])).toBeGreaterThan(0);
    const checks = await get('/v1/agent/checks');
    expect(checks.body['web-ttl']).toMatchObject({
      Node: 'n1',
      CheckID: 'web-ttl',
      Name: "Service 'web' check",
      Status: 'critical',
      Notes: 'heartbeat',
      Output: '',
      ServiceID: 'web-1',
      ServiceName: 'web',
      ServiceTags: ['v2'],
      Type: 'ttl',
    });
    expect((await get('/v1/agent/service/web-1')).body).toMatchObject({ ID: 'web-1', Service: 'web' });
    expect((await get('/v1/agent/service/nope')).status).toBe(404);
  });

  it('takes bodies without a content type, as Consul clients send them', async () => {
    const { app, get } = await setup();
    const res = await app.inject({
      method: 'PUT',
      url: '/v1/agent/service/register',
      payload: '{"Name":"bare","Port":1}',
      headers: { 'content-type': 'text/plain' },
    });
    expect(res.statusCode).toBe(200);
    expect(Object.keys((await get('/v1/agent/services')).body)).toEqual(['bare']);
  });

  const bad: [string, unknown, string][] = [
    ['a missing name', { Port: 80 }, 'Name: is required'],
    ['a port out of range', { Name: 'web', Port: 65536 }, 'Port: must be between 1 and 65535'],
    [
      'an unknown check type',
      { Name: 'web', Port: 80, Checks: [{ H2PING: 'localhost:80', Interval: '1s' }] },
      'Checks[0].H2PING: unsupported check type H2PING',
    ],
    [
      'an unknown check Type name',
      { Name: 'web', Port: 80, Check: { Type: 'docker', Interval: '1s', TTL: '1s' } },
      'Check.Type: unknown check type "docker"',
    ],
    [
      'a negative interval',
      { name: 'web', port: 80, checks: [{ http: 'http://127.0.0.1/', interval: '-10s' }] },
      'checks[0].interval: must be a positive duration',
    ],
    [
      "an interval past Node's timer limit",
      { Name: 'web', Port: 80, Check: { HTTP: 'http://127.0.0.1/', Interval: '1000000h' } },
      'Check.Interval: must be at most 596h31m23.647s',
    ],
    ['a TTL past the limit', { Name: 'web', Port: 80, Check: { TTL: '600h' } }, 'Check.TTL: must be at most'],
    ['a service named localhost', { Name: 'localhost', Port: 80 }, 'Name: names a host applications mean literally'],
    ['invalid JSON', '{"Name": "web",', 'body is not valid JSON'],
    ['a non-object body', '[1,2]', 'body: must be a JSON object'],
  ];
  for (const [what, body, message] of bad) {
    it(`answers ${what} with 400 naming the field, and stores nothing`, async () => {
      const { put, get, stored } = await setup();
      const res = await put('/v1/agent/service/register', body);
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toContain(message);
      expect((await get('/v1/agent/services')).body).toEqual({});
      expect(await stored()).toEqual([]);
    });
  }

  it('answers a body that is too large with 413 and stores nothing', async () => {
    const { put, get, stored } = await setup();
    const res = await put('/v1/agent/service/register', {
      Name: 'web',
      Port: 80,
      Meta: { pad: 'x'.repeat(2 * 1024 * 1024) },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toMatch(/larger than the limit/);
    expect((await get('/v1/agent/services')).body).toEqual({});
    expect(await stored()).toEqual([]);
  });

  it('refuses exec checks unless the agent runs with --enable-exec-checks', async () => {
    const body = { Name: 'job', Port: 1, Check: { Args: ['/bin/true'], Interval: '1s' } };
    const off = await setup();
    const refused = await off.put('/v1/agent/service/register', body);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error).toMatch(/--enable-exec-checks/);
    expect(await off.stored()).toEqual([]);
    const standalone = await off.put('/v1/agent/check/register', { Name: 'x', Args: ['/bin/true'], Interval: '1s' });
    expect(standalone.statusCode).toBe(403);

    const on = await setup({ enableExecChecks: true });
    expect((await on.put('/v1/agent/service/register', body)).statusCode).toBe(200);
  });

  it('deregisters, with 404 for unknown IDs', async () => {
    const { put, get } = await setup();
    await put('/v1/agent/service/register', { Name: 'web', Port: 80, Check: { TTL: '10s' } });
    expect((await put('/v1/agent/service/deregister/web')).statusCode).toBe(200);
    expect((await get('/v1/agent/services')).body).toEqual({});
    expect((await get('/v1/agent/checks')).body).toEqual({});
    expect((await put('/v1/agent/service/deregister/web')).statusCode).toBe(404);
  });
});

describe('checks, TTL updates and health', () => {
  it('takes pass/warn/fail with a note, and update with a body, and answers health probes', async () => {
    const { put, get } = await setup();
    await put('/v1/agent/service/register', { Name: 'web', Port: 80, Check: { TTL: '30s', CheckID: 't' } });
    expect((await get('/v1/agent/health/service/id/web')).status).toBe(503);
    expect((await put('/v1/agent/check/pass/t?note=all%20good')).statusCode).toBe(200);
    expect((await get('/v1/agent/checks')).body.t).toMatchObject({ Status: 'passing', Output: 'all good' });
    const ok = await get('/v1/agent/health/service/id/web');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ AggregatedStatus: 'passing', Service: { ID: 'web' } });
    await put('/v1/agent/check/warn/t');
    expect((await get('/v1/agent/health/service/name/web')).status).toBe(429);
    await put('/v1/agent/check/fail/t?note=down');
    expect((await get('/v1/agent/health/service/name/web')).status).toBe(503);
    expect((await put('/v1/agent/check/update/t', { Status: 'passing', Output: 'back' })).statusCode).toBe(200);
    expect((await get('/v1/agent/checks')).body.t).toMatchObject({ Status: 'passing', Output: 'back' });
    const badUpdate = await put('/v1/agent/check/update/t', { Status: 'fine' });
    expect(badUpdate.statusCode).toBe(400);
    expect(badUpdate.json().error).toMatch(/^Status: must be one of passing, warning, critical/);
    expect((await put('/v1/agent/check/pass/nope')).statusCode).toBe(404);
    expect((await get('/v1/agent/health/service/name/nope')).status).toBe(404);
  });

  it('registers and deregisters standalone node checks', async () => {
    const { put, get } = await setup();
    await put('/v1/agent/service/register', { Name: 'web', Port: 80 });
    expect((await put('/v1/agent/check/register', { Name: 'disk', TTL: '1m', Status: 'warning' })).statusCode).toBe(
      200,
    );
    expect((await get('/v1/agent/checks')).body.disk).toMatchObject({ Status: 'warning', ServiceID: '' });
    expect((await get('/v1/agent/health/service/id/web')).status).toBe(429);
    const noService = await put('/v1/agent/check/register', { Name: 'x', TTL: '1m', ServiceID: 'ghost' });
    expect(noService.statusCode).toBe(404);
    expect((await put('/v1/agent/check/deregister/disk')).statusCode).toBe(200);
    expect((await get('/v1/agent/health/service/id/web')).status).toBe(200);
  });
});

describe('maintenance', () => {
  it('puts the node and services into maintenance, shown as critical checks with the reason', async () => {
    const { put, get } = await setup();
    await put('/v1/agent/service/register', { Name: 'web', Port: 80 });
    expect((await put('/v1/agent/service/maintenance/web?enable=true&reason=deploy%2042')).statusCode).toBe(200);
    expect((await get('/v1/agent/checks')).body['_service_maintenance:web']).toMatchObject({
      Status: 'critical',
      Notes: 'deploy 42',
      ServiceID: 'web',
    });
    const health = await get('/v1/agent/health/service/id/web');
    expect(health.status).toBe(503);
    expect(health.body.AggregatedStatus).toBe('maintenance');
    await put('/v1/agent/service/maintenance/web?enable=false');
    expect((await get('/v1/agent/health/service/id/web')).status).toBe(200);

    expect((await put('/v1/agent/maintenance?enable=true&reason=rack')).statusCode).toBe(200);
    expect((await get('/v1/agent/checks')).body._node_maintenance).toMatchObject({ Notes: 'rack' });
    expect((await get('/v1/agent/health/service/id/web')).body.AggregatedStatus).toBe('maintenance');
    await put('/v1/agent/maintenance?enable=false');
    expect((await get('/v1/agent/checks')).body).toEqual({});

    const missing = await put('/v1/agent/maintenance');
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error).toBe('enable: is required (true or false)');
    expect((await put('/v1/agent/maintenance?enable=maybe')).statusCode).toBe(400);
    expect((await put('/v1/agent/service/maintenance/ghost?enable=true')).statusCode).toBe(404);
  });
});

describe('ACL token', () => {
  it('is required on write endpoints when set, and reads stay open', async () => {
    const { put, get } = await setup({ aclToken: 's3cret' });
    const body = { Name: 'web', Port: 80 };
    const none = await put('/v1/agent/service/register', body);
    expect(none.statusCode).toBe(403);
    expect(none.json().error).toMatch(/requires an ACL token/);
    const wrong = await put('/v1/agent/service/register', body, { 'x-vigil-token': 'guess' });
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().error).toMatch(/not valid/);
    expect((await put('/v1/agent/maintenance?enable=true')).statusCode).toBe(403);
    expect((await put('/v1/agent/check/pass/x')).statusCode).toBe(403);
    expect((await get('/v1/agent/services')).body).toEqual({});

    expect((await put('/v1/agent/service/register', body, { 'x-vigil-token': 's3cret' })).statusCode).toBe(200);
    expect((await put('/v1/agent/service/register?token=s3cret', { Name: 'b', Port: 1 })).statusCode).toBe(200);
    expect(
      (await put('/v1/agent/service/register', { Name: 'c', Port: 1 }, { 'x-consul-token': 's3cret' })).statusCode,
    ).toBe(200);
    expect(Object.keys((await get('/v1/agent/services')).body)).toEqual(['b', 'c', 'web']);
  });

  it('is answered before a large body is read', async () => {
    const { put } = await setup({ aclToken: 's3cret' });
    const res = await put('/v1/agent/service/register', {
      Name: 'web',
      Port: 80,
      Meta: { pad: 'x'.repeat(2_000_000) },
    });
    expect(res.statusCode).toBe(403);
  });
});
