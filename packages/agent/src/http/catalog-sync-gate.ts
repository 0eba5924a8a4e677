import type { FastifyInstance } from 'fastify';
import type { CatalogSync } from './planes.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route reads the catalog, or what is computed from it: 503 until it is in sync. */
    needsCatalogSync?: boolean;
  }
}

/** Route options for a read of the catalog or of what is computed from it (routes, events). */
export const NEEDS_CATALOG_SYNC = { config: { needsCatalogSync: true } } as const;

export const NOT_IN_SYNC_MESSAGE =
  'the agent is starting: its catalog is not yet in sync with the cluster; retry shortly';

/**
 * Answers 503 (with Retry-After) to every route that declares `needsCatalogSync` until the agent's
 * catalog is in sync: clients keep the tables they have rather than take a restarted agent's
 * half-empty ones. Each route says whether it needs it, so a new route cannot slip past a pattern.
 */
export function gateOnCatalogSync(app: FastifyInstance, sync: CatalogSync): void {
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config?.needsCatalogSync !== true || sync.isSynced()) return;
    reply.header('retry-after', '1');
    await reply.code(503).send({ error: NOT_IN_SYNC_MESSAGE });
  });
}
