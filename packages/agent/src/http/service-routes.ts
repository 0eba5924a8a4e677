import type { FastifyInstance } from 'fastify';
import type { InstanceHealth } from '../health/status.ts';
import { DefinitionError, parseServiceRegistration } from '../services/registration.ts';
import type { ServiceView } from '../services/registry.ts';
import { requireToken } from './acl-token.ts';
import { ApiError } from './api-error.ts';
import { registerCheckRoutes } from './check-routes.ts';
import { agentCheck, agentService, maintenanceCheck } from './consul-shapes.ts';
import { checkContext, noFilter, parseBoolParam, type ServiceRoutesOptions } from './route-helpers.ts';

/** Consul's `?replace-existing-checks` is a flag: present means on, unless it says false. */
function flagParam(value: unknown): boolean {
  if (value === undefined) return false;
  return !['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(String(value));
}

/** 200 when all checks pass, 429 on a warning, 503 on critical or maintenance: a load-balancer probe. */
const HEALTH_CODE: Record<InstanceHealth, number> = { passing: 200, warning: 429, critical: 503, maintenance: 503 };
const HEALTH_RANK: Record<InstanceHealth, number> = { passing: 0, warning: 1, critical: 2, maintenance: 3 };

/**
 * The agent's services, checks and maintenance API, in Consul's shapes: register, deregister,
 * list, TTL updates, maintenance, and per-service health for load balancers. Write routes take
 * any content type as JSON (Consul's clients send none) and require the ACL token when one is set.
 */
export function registerServiceRoutes(app: FastifyInstance, opts: ServiceRoutesOptions): void {
  app.register(async (scope) => {
    // Every body is JSON here, whatever its content type says (Consul's Go client sends none).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
      const text = String(body);
      if (text.trim() === '') return done(null, undefined);
      try {
        done(null, JSON.parse(text));
      } catch (err) {
        done(new ApiError(400, `body is not valid JSON: ${(err as Error).message}`), undefined);
      }
    });
    const guard = requireToken(opts.aclToken);
    scope.addHook('onRequest', async (req, reply) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') await guard(req, reply);
    });
    serviceRoutes(scope, opts);
    registerCheckRoutes(scope, opts);
  });
}

/** A service's checks in Consul's shape, maintenance first (as Consul lists them). */
function serviceChecks(view: ServiceView, opts: ServiceRoutesOptions): Record<string, unknown>[] {
  const ctx = checkContext(opts);
  const out: Record<string, unknown>[] = [];
  const node = opts.registry.getNodeMaintenance();
  if (node) out.push(maintenanceCheck(node, opts.node));
  if (view.maintenance) out.push(maintenanceCheck(view.maintenance, opts.node, view));
  for (const check of view.checks) out.push(agentCheck(check, ctx));
  return out;
}

function health(views: ServiceView[], opts: ServiceRoutesOptions): { code: number; body: Record<string, unknown>[] } {
  let worst: InstanceHealth = 'passing';
  const body = views.map((view) => {
    if (HEALTH_RANK[view.health] > HEALTH_RANK[worst]) worst = view.health;
    return {
      AggregatedStatus: view.health,
      Service: agentService(view, opts.datacenter),
      Checks: serviceChecks(view, opts),
    };
  });
  return { code: HEALTH_CODE[worst], body };
}

function serviceRoutes(app: FastifyInstance, opts: ServiceRoutesOptions): void {
  const { registry } = opts;

  app.put('/v1/agent/service/register', async (req, reply) => {
    let registration: ReturnType<typeof parseServiceRegistration>;
    try {
      registration = parseServiceRegistration(req.body);
    } catch (err) {
      if (err instanceof DefinitionError) throw new ApiError(400, err.message);
      throw err;
    }
    const query = req.query as Record<string, unknown>;
    await registry.register(registration, {
      source: 'api',
      replaceExistingChecks: flagParam(query['replace-existing-checks']),
    });
    return reply.code(200).send();
  });

  app.put<{ Params: { id: string } }>('/v1/agent/service/deregister/:id', async (req, reply) => {
    await registry.deregister(req.params.id);
    return reply.code(200).send();
  });

  app.put<{ Params: { id: string }; Querystring: { enable?: string; reason?: string } }>(
    '/v1/agent/service/maintenance/:id',
    async (req, reply) => {
      const enable = parseBoolParam('enable', req.query.enable);
      await registry.setServiceMaintenance(req.params.id, enable, req.query.reason ?? '');
      return reply.code(200).send();
    },
  );

  app.put<{ Querystring: { enable?: string; reason?: string } }>('/v1/agent/maintenance', async (req, reply) => {
    const enable = parseBoolParam('enable', req.query.enable);
    await registry.setNodeMaintenance(enable, req.query.reason ?? '');
    return reply.code(200).send();
  });

  app.get('/v1/agent/services', async (req, reply) => {
    noFilter(req.query);
    const out: Record<string, unknown> = {};
    for (const view of registry.listServices()) out[view.service.id] = agentService(view, opts.datacenter);
    return reply.header('x-consul-index', String(registry.index)).send(out);
  });

  app.get<{ Params: { id: string } }>('/v1/agent/service/:id', async (req, reply) => {
    const view = registry.getService(req.params.id);
    if (!view) throw new ApiError(404, `no service with ID "${req.params.id}" is registered on this agent`);
    return reply.header('x-consul-index', String(registry.index)).send(agentService(view, opts.datacenter));
  });

  app.get<{ Params: { id: string } }>('/v1/agent/health/service/id/:id', async (req, reply) => {
    const view = registry.getService(req.params.id);
    if (!view) throw new ApiError(404, `no service with ID "${req.params.id}" is registered on this agent`);
    const { code, body } = health([view], opts);
    return reply.code(code).send(body[0]);
  });

  app.get<{ Params: { name: string } }>('/v1/agent/health/service/name/:name', async (req, reply) => {
    const views = registry.listServices().filter((v) => v.service.name === req.params.name);
    if (views.length === 0) {
      throw new ApiError(404, `no service named "${req.params.name}" is registered on this agent`);
    }
    const { code, body } = health(views, opts);
    return reply.code(code).send(body);
  });
}
