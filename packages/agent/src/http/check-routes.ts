import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { CHECK_STATUSES, type CheckStatus } from '../health/status.ts';
import { DefinitionError, parseCheckRegistration } from '../services/registration.ts';
import { ApiError } from './api-error.ts';
import { agentCheck, maintenanceCheck } from './consul-shapes.ts';
import { checkContext, noFilter, type ServiceRoutesOptions } from './route-helpers.ts';

/** Body of `PUT /v1/agent/check/update/:id`: Consul's `{Status, Output}` (any key case). */
const updateBody = z.object({
  status: z.enum(CHECK_STATUSES, { error: `Status: must be one of ${CHECK_STATUSES.join(', ')}` }),
  output: z.string({ error: 'Output: must be a string' }).optional(),
});

function lowerKeys(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.toLowerCase(), v]));
}

const TTL_ROUTES: [string, CheckStatus][] = [
  ['pass', 'passing'],
  ['warn', 'warning'],
  ['fail', 'critical'],
];

/** The agent's checks: list, standalone register/deregister, and TTL reports. */
export function registerCheckRoutes(app: FastifyInstance, opts: ServiceRoutesOptions): void {
  const { registry } = opts;

  app.get('/v1/agent/checks', async (req, reply) => {
    noFilter(req.query);
    const out: Record<string, unknown> = {};
    const nodeMaintenance = registry.getNodeMaintenance();
    if (nodeMaintenance) out._node_maintenance = maintenanceCheck(nodeMaintenance, opts.node);
    for (const view of registry.listServices()) {
      if (view.maintenance) {
        const check = maintenanceCheck(view.maintenance, opts.node, view);
        out[check.CheckID as string] = check;
      }
    }
    const ctx = checkContext(opts);
    for (const view of registry.listChecks()) out[view.definition.id] = agentCheck(view, ctx);
    return reply.header('x-consul-index', String(registry.index)).send(out);
  });

  app.put('/v1/agent/check/register', async (_req, reply) => {
    let def: ReturnType<typeof parseCheckRegistration>;
    try {
      def = parseCheckRegistration(_req.body);
    } catch (err) {
      if (err instanceof DefinitionError) throw new ApiError(400, err.message);
      throw err;
    }
    await registry.registerCheck(def, { source: 'api' });
    return reply.code(200).send();
  });

  app.put<{ Params: { id: string } }>('/v1/agent/check/deregister/:id', async (req, reply) => {
    await registry.deregisterCheck(req.params.id);
    return reply.code(200).send();
  });

  for (const [verb, status] of TTL_ROUTES) {
    app.put<{ Params: { id: string }; Querystring: { note?: string } }>(
      `/v1/agent/check/${verb}/:id`,
      async (req, reply) => {
        await registry.updateTtl(req.params.id, status, req.query.note ?? '');
        return reply.code(200).send();
      },
    );
  }

  app.put<{ Params: { id: string } }>('/v1/agent/check/update/:id', async (req, reply) => {
    const parsed = updateBody.safeParse(lowerKeys(req.body ?? {}));
    if (!parsed.success) throw new ApiError(400, parsed.error.issues.map((i) => i.message).join('; '));
    await registry.updateTtl(req.params.id, parsed.data.status, parsed.data.output ?? '');
    return reply.code(200).send();
  });
}
