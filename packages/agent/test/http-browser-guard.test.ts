import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyFingerprint } from '@vigil/protocol';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { isAllowedHost } from '../src/http/browser-guard.ts';
import { registerKeyringRoutes } from '../src/http/keyring-routes.ts';
import { createHttpServer } from '../src/http/server.ts';
import { registerServiceRoutes } from '../src/http/service-routes.ts';
import { MembershipService } from '../src/membership/membership-service.ts';
import { PROFILES } from '../src/membership/profiles.ts';
import { ServiceRegistry } from '../src/services/registry.ts';

const log = pino({ level: 'silent' });
const KEY = Buffer.alloc(32, 7);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A real API on a real loopback socket, with a real membership plane holding a gossip key. */
async function api(opts: { aclToken?: string; allowedHosts?: string[] } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-guard-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const registry = await ServiceRegistry.open({ dataDir: dir, node: 'n1', zone: 'z1', log, firstRunDelayMs: 0 });
  cleanups.push(() => registry.stop());
  const membership = await MembershipService.start({
    name: 'n1',
    bind: { host: '127.0.0.1', port: 0 },
    meta: new Uint8Array(),
    profile: PROFILES.local,
    keys: [KEY],
    dataDir: dir,
    log,
  });
  cleanups.push(() => membership.stop());
  const app = createHttpServer(log, { allowedHosts: opts.allowedHosts ?? [] });
  registerServiceRoutes(app, { registry, node: 'n1', datacenter: 'dc1', aclToken: opts.aclToken });
  registerKeyringRoutes(app, { membership, datacenter: 'dc1', aclToken: opts.aclToken });
  await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => app.close());
  const port = (app.server.address() as { port: number }).port;
  /** A raw request, so the test sets Host and Origin as a browser would. */
  const send = (method: string, path: string, headers: Record<string, string> = {}, body?: unknown) =>
    new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method,
          path,
          headers: {
            host: `127.0.0.1:${port}`,
            ...(data === undefined ? {} : { 'content-type': 'application/json' }),
            ...headers,
          },
        },
        (res) => {
          let text = '';
          res.on('data', (d) => {
            text += d;
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text) }),
          );
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  return { send, port, registry };
}

const service = { Name: 'web', ID: 'web-1', Port: 8080 };

describe('the HTTP API against web pages', () => {
  it('refuses a Host that does not name the agent (DNS rebinding), reads and writes alike', async () => {
    const { send, port, registry } = await api();
    const evil = { host: `evil.example:${port}`, origin: `http://evil.example:${port}` };
    const read = await send('GET', '/v1/agent/services', evil);
    expect(read.status).toBe(403);
    expect((read.body as { error: string }).error).toMatch(/Host "evil\.example:\d+" does not name this agent/);
    const write = await send('PUT', '/v1/agent/service/register', evil, service);
    expect(write.status).toBe(403);
    expect(registry.getService('web-1')).toBeUndefined();
    // The keyring too: the rebinding page would read it as its own origin.
    expect((await send('GET', '/v1/operator/keyring?local-only=true', evil)).status).toBe(403);
    // A 404 is not a way around it.
    expect((await send('GET', '/nothing', evil)).status).toBe(403);
  });

  it('answers to its addresses, localhost and the names it is told to allow', async () => {
    const { send, port } = await api({ allowedHosts: ['Vigil.Internal'] });
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      'LOCALHOST',
      `[::1]:${port}`,
      `vigil.internal:${port}`,
    ]) {
      expect((await send('GET', '/v1/agent/services', { host })).status, host).toBe(200);
    }
    for (const host of [`vigil.internal.evil:${port}`, 'localhost.', 'x.localhost', 'a b']) {
      expect((await send('GET', '/v1/agent/services', { host })).status, host).toBe(403);
    }
  });

  it('refuses cross-origin writes and cross-site requests, and serves its own origin', async () => {
    const { send, port, registry } = await api();
    for (const headers of [
      { origin: 'http://evil.example' } as Record<string, string>,
      { origin: `http://localhost:${port + 1}` },
      { origin: 'null' },
      { 'sec-fetch-site': 'same-site' },
      { 'sec-fetch-site': 'cross-site' },
    ]) {
      const res = await send('PUT', '/v1/agent/service/register', headers, service);
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect((res.body as { error: string }).error).toMatch(/^cross-(origin PUT|site request) refused/);
    }
    expect(registry.getService('web-1')).toBeUndefined();
    // A cross-site page may not even read (an EventSource would hold a stream open).
    expect((await send('GET', '/v1/agent/services', { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    // A page of the API itself, and tools that send no Origin, may write.
    const own = await send(
      'PUT',
      '/v1/agent/service/register',
      { origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin' },
      service,
    );
    expect(own.status).toBe(200);
    expect((await send('PUT', '/v1/agent/service/deregister/web-1')).status).toBe(200);
  });

  it('lists gossip keys only as fingerprints when the agent has no ACL token', async () => {
    const { send } = await api();
    for (const path of ['/v1/operator/keyring?local-only=true', '/v1/operator/keyring']) {
      const res = await send('GET', path);
      expect(res.status).toBe(200);
      const [entry] = res.body as { Keys: Record<string, number>; PrimaryKeys: Record<string, number> }[];
      expect(entry!.Keys).toEqual({ [keyFingerprint(KEY)]: 1 });
      expect(entry!.PrimaryKeys).toEqual({ [keyFingerprint(KEY)]: 1 });
      expect(JSON.stringify(res.body)).not.toContain(KEY.toString('base64'));
    }
  });

  it('shows the keys themselves only to a request carrying the agent token', async () => {
    const { send } = await api({ aclToken: 'sesame' });
    expect((await send('GET', '/v1/operator/keyring?local-only=true')).status).toBe(403);
    const res = await send('GET', '/v1/operator/keyring?local-only=true', { 'x-vigil-token': 'sesame' });
    expect((res.body as { Keys: Record<string, number> }[])[0]!.Keys).toEqual({ [KEY.toString('base64')]: 1 });
  });
});

describe('isAllowedHost', () => {
  const none = new Set<string>();
  it('takes IP literals of either family, with or without a port', () => {
    for (const h of ['127.0.0.1', '10.1.2.3:7948', '[::1]:7948', '[fe80::1]', '0x7f.1:80']) {
      expect(isAllowedHost(h, none), h).toBe(true);
    }
  });
  it('refuses names and garbage', () => {
    for (const h of [
      '',
      'evil.example',
      'evil.example:7948',
      '127.0.0.1.nip.io',
      'a@127.0.0.1',
      '127.0.0.1/x',
      '[::1',
    ]) {
      expect(isAllowedHost(h, none), h).toBe(false);
    }
  });
});
