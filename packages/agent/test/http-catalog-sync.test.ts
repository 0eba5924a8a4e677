import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ChangeFeed } from '../src/events/change-feed.ts';
import { gateOnCatalogSync, NOT_IN_SYNC_MESSAGE } from '../src/http/catalog-sync-gate.ts';
import { registerConsulAgentRoutes } from '../src/http/consul-agent-routes.ts';
import { registerConsulCatalogRoutes } from '../src/http/consul-catalog-routes.ts';
import { registerEventRoutes } from '../src/http/event-routes.ts';
import { registerMemberRoutes } from '../src/http/member-routes.ts';
import type { CatalogReader, MemberReader, MemberWriter, RouteReader } from '../src/http/planes.ts';
import { registerRouteRoutes } from '../src/http/route-routes.ts';
import { createHttpServer } from '../src/http/server.ts';
import { registerUiRoutes } from '../src/http/ui-routes.ts';
import type { MemberInfo } from '../src/membership/member-info.ts';
import { VirtualRuntime } from '../src/runtime/index.ts';

// The planes are small in-memory objects here: the gate reads one boolean, and the routes' own
// behaviour is covered against real planes elsewhere (test/integration/consul-compat.test.ts).

const log = pino({ level: 'silent' });
const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

const alice: MemberInfo = {
  name: 'alice',
  addr: '127.0.0.1',
  port: 7946,
  status: 'alive',
  incarnation: 1,
  confirmations: 0,
  confirmedSuspect: false,
  tags: {},
};

const members: MemberReader & MemberWriter = {
  localName: () => 'alice',
  members: () => [alice],
  member: () => undefined,
  join: async () => ({ joined: 0, errors: [] }),
  forceLeave: () => false,
};
const routes: RouteReader = {
  tables: () => [],
  table: () => undefined,
  verdict: () => ({ ejected: [], held: [], discounted: [], nextChangeAt: null }),
};
const catalog: CatalogReader = { records: () => [] };

/** The API's catalog readers and a few routes that do not read the catalog, behind the gate. */
async function setup() {
  const state = { synced: false };
  const feed = new ChangeFeed(1, 16, new VirtualRuntime(1));
  const app = createHttpServer(log);
  apps.push(app);
  const declared: string[] = [];
  app.addHook('onRoute', (route) => {
    if (route.config?.needsCatalogSync === true && route.method === 'GET') declared.push(route.url ?? route.path);
  });
  gateOnCatalogSync(app, { isSynced: () => state.synced });
  registerEventRoutes(app, feed);
  registerRouteRoutes(app, routes, feed);
  registerConsulCatalogRoutes(app, { mesh: catalog, membership: members, feed, datacenter: 'dc1' });
  registerUiRoutes(app, { mesh: catalog, feed });
  registerMemberRoutes(app, { membership: members, feed, leaveAndShutdown: async () => {} });
  registerConsulAgentRoutes(app, { membership: members, datacenter: 'dc1' });
  await app.ready();
  return { app, state, declared };
}

describe('the catalog-in-sync gate', () => {
  it('is declared by exactly the catalog and routing reads', async () => {
    const { declared } = await setup();
    expect(declared.sort()).toEqual([
      '/v1/catalog/instances',
      '/v1/catalog/nodes',
      '/v1/catalog/service/:name',
      '/v1/catalog/services',
      '/v1/events',
      '/v1/health/service/:name',
      '/v1/routes',
      '/v1/routes/:service',
      '/v1/services',
    ]);
  });

  it('answers 503 with Retry-After on a gated route until the catalog is in sync', async () => {
    const { app, state } = await setup();
    for (const url of ['/v1/routes', '/v1/services?index=1', '/v1/catalog/nodes', '/v1/events', '/v1/routes/web']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(503);
      expect(res.headers['retry-after'], url).toBe('1');
      expect(res.json(), url).toEqual({ error: NOT_IN_SYNC_MESSAGE });
    }
    // HEAD follows its GET (routed as GET by the server, so over a real socket, not inject()).
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    expect((await fetch(`${base}/v1/routes`, { method: 'HEAD' })).status).toBe(503);

    state.synced = true;
    const res = await app.inject({ method: 'GET', url: '/v1/routes' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ index: 1, tables: [] });
    expect((await app.inject({ method: 'GET', url: '/v1/catalog/nodes' })).json()).toMatchObject([{ Node: 'alice' }]);
  });

  it('lets routes that do not read the catalog answer while it is not in sync', async () => {
    const { app } = await setup();
    for (const url of ['/v1/members', '/v1/agent/members']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['retry-after'], url).toBeUndefined();
    }
    expect((await app.inject({ method: 'GET', url: '/v1/members' })).json()).toEqual([alice]);
  });
});
