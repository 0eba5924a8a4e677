import type { FastifyInstance } from 'fastify';
import { countMemberTransitions } from './member-transitions.ts';
import type { MetricsRegistry, MetricsSources, RequestSample } from './metrics-registry.ts';

export type { MetricsSources } from './metrics-registry.ts';

/** Requests answered before the registry is built, kept to be counted then; past this, dropped. */
const MAX_PENDING_SAMPLES = 1024;

/**
 * Prometheus exposition at /metrics. prom-client and the registry (metrics-registry.ts) load only
 * once the API has answered a request without a 5xx (the first /readyz 200, typically) or at the
 * first scrape, whichever comes first: ~20 ms of CPU off the path from exec to /readyz. What
 * happens before that is not lost: member transitions are counted from the start, and the requests
 * answered meanwhile are replayed into the request histogram.
 */
export function registerMetricsRoutes(app: FastifyInstance, sources: MetricsSources): void {
  const transitions = countMemberTransitions(sources.membership);
  let built: MetricsRegistry | undefined;
  let building: Promise<MetricsRegistry> | undefined;
  const pending: RequestSample[] = [];
  const build = () => {
    building ??= import('./metrics-registry.ts').then(({ buildMetricsRegistry }) => {
      built = buildMetricsRegistry(sources, transitions);
      for (const sample of pending.splice(0)) built.observe(sample);
      return built;
    });
    return building;
  };

  app.addHook('onResponse', async (req, reply) => {
    const sample = {
      method: req.method,
      // The route pattern, never the raw URL: names in paths would make unbounded label sets.
      route: req.routeOptions.url ?? 'unmatched',
      code: String(reply.statusCode),
      seconds: reply.elapsedTime / 1000,
    };
    if (built) return built.observe(sample);
    if (pending.length < MAX_PENDING_SAMPLES) pending.push(sample);
    // After the response went out, so the request that makes the agent look ready is not slowed.
    if (reply.statusCode < 500) void build();
  });

  app.get('/metrics', async (_req, reply) => {
    const registry = await build();
    reply.header('content-type', registry.contentType);
    return registry.scrape();
  });
}
