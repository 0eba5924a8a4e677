import type { FastifyInstance } from 'fastify';
import type { ChangeFeed } from '../events/change-feed.ts';
import { explainDemotions } from '../outlier/index.ts';
import { ApiError } from './api-error.ts';
import { blockingRead } from './blocking-query.ts';
import { NEEDS_CATALOG_SYNC } from './catalog-sync-gate.ts';
import type { RouteReader } from './planes.ts';

/** Vigil's own read API for the routing plane; every route supports blocking queries. */
export function registerRouteRoutes(app: FastifyInstance, mesh: RouteReader, feed: ChangeFeed): void {
  app.get('/v1/services', NEEDS_CATALOG_SYNC, (req, reply) =>
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

  app.get('/v1/routes', NEEDS_CATALOG_SYNC, (req, reply) =>
    blockingRead(req, reply, feed, () => ({ index: feed.index(), tables: mesh.tables() })),
  );

  app.get('/v1/routes/:service', NEEDS_CATALOG_SYNC, async (req, reply) => {
    const { service } = req.params as { service: string };
    // Each demotion explained: which observers, what they saw, when (src/outlier/explain.ts).
    const table = await blockingRead(req, reply, feed, () => {
      const t = mesh.table(service);
      return t && { ...t, ...explainDemotions(t, mesh.verdict()) };
    });
    if (!table) throw new ApiError(404, `no service named "${service}" in the catalog`);
    return table;
  });
}
