import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ChangeFeed } from '../events/change-feed.ts';
import type { Mesh } from '../mesh/mesh.ts';
import { explainDemotions } from '../outlier/index.ts';
import { ApiError } from './api-error.ts';
import { blockingRead } from './blocking-query.ts';

/** Vigil's own read API for the routing plane; every route supports blocking queries. */
/**
 * A hook answering 503 (with Retry-After) until the agent's catalog is in sync: clients keep the
 * tables they have rather than take a restarted agent's half-empty ones.
 */
export function requireSynced(mesh: Mesh) {
  return async (_req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (mesh.isSynced()) return;
    reply.header('retry-after', '1');
    await reply
      .code(503)
      .send({ error: 'the agent is starting: its catalog is not yet in sync with the cluster; retry shortly' });
  };
}

export function registerRouteRoutes(app: FastifyInstance, mesh: Mesh, feed: ChangeFeed): void {
  app.addHook('onRequest', async (req, reply) => {
    if (/^\/v1\/(services|routes|events|catalog\/|health\/service\/)/.test(req.url))
      await requireSynced(mesh)(req, reply);
  });
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
    // Each demotion explained: which observers, what they saw, when (src/outlier/explain.ts).
    const table = await blockingRead(req, reply, feed, () => {
      const t = mesh.table(service);
      return t && { ...t, ...explainDemotions(t, mesh.verdict()) };
    });
    if (!table) throw new ApiError(404, `no service named "${service}" in the catalog`);
    return table;
  });
}
