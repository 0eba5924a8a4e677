import type { FastifyInstance } from 'fastify';
import type { ChangeFeed } from '../events/change-feed.ts';
import type { Mesh } from '../mesh/mesh.ts';
import { ApiError } from './api-error.ts';
import { blockingRead } from './blocking-query.ts';

/** Vigil's own read API for the routing plane; every route supports blocking queries. */
export function registerRouteRoutes(app: FastifyInstance, mesh: Mesh, feed: ChangeFeed): void {
  app.get('/v1/services', (req, reply) =>
    blockingRead(req, reply, feed, () =>
      mesh.tables().map((t) => ({
        service: t.service,
        policy: t.policy,
        redundancy: t.redundancy,
        panic: t.panic,
        endpoints: t.endpoints.length,
        active: t.endpoints.filter((e) => e.state === 'active').length,
      })),
    ),
  );

  app.get('/v1/routes', (req, reply) =>
    blockingRead(req, reply, feed, () => ({ index: feed.index(), tables: mesh.tables() })),
  );

  app.get('/v1/routes/:service', async (req, reply) => {
    const { service } = req.params as { service: string };
    const table = await blockingRead(req, reply, feed, () => mesh.table(service));
    if (!table) throw new ApiError(404, `no service named "${service}" in the catalog`);
    return table;
  });
}
