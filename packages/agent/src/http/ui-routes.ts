import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ChangeFeed } from '../events/change-feed.ts';
import { blockingRead } from './blocking-query.ts';
import { NEEDS_CATALOG_SYNC } from './catalog-sync-gate.ts';
import type { CatalogReader } from './planes.ts';

/** The dashboard's files: a fixed list, so no request path ever reaches the file system. */
const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/**
 * Everything from this agent, nothing inline or from elsewhere: the page works offline, and a name
 * from the network that slipped into markup could still run no script.
 */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The dashboard at /ui/ (static files, no build step), and the catalog's instances it shows beside
 * the routing tables: those routing leaves out (maintenance, a node down) are shown too.
 */
export function registerUiRoutes(app: FastifyInstance, opts: { mesh: CatalogReader; feed: ChangeFeed }): void {
  const files = new Map(
    Object.entries(ASSETS).map(([name, type]) => [
      name,
      { type, body: readFileSync(new URL(`../ui/${name}`, import.meta.url)) },
    ]),
  );
  const send = (name: string) => async (_req: unknown, reply: FastifyReply) => {
    const file = files.get(name);
    if (!file) return reply.code(404).send({ error: `no dashboard file named "${name}"` });
    return reply
      .header('content-type', file.type)
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache')
      .send(file.body);
  };
  app.get('/ui', async (_req, reply) => reply.redirect('/ui/'));
  app.get('/ui/', send('index.html'));
  app.get<{ Params: { file: string } }>('/ui/:file', (req, reply) => send(req.params.file)(req, reply));

  app.get('/v1/catalog/instances', NEEDS_CATALOG_SYNC, (req, reply) =>
    blockingRead(req, reply, opts.feed, () =>
      opts.mesh
        .records()
        .flatMap((r) => r.instances.map((i) => ({ node: r.node, ...i })))
        .sort((a, b) => a.service.localeCompare(b.service) || a.node.localeCompare(b.node) || a.id.localeCompare(b.id)),
    ),
  );
}
