import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { requireToken } from './acl-token.ts';
import { ApiError } from './api-error.ts';
import type { ObservationSink } from './planes.ts';

/** Endpoints per batch: an SDK batches per flush, and the agent tracks at most 128 anyway. */
export const MAX_OBSERVATIONS_PER_BATCH = 256;
const MAX_COUNT = 1_000_000;

const count = z.number().int().min(0).max(MAX_COUNT).default(0);
const name = z.string().min(1).max(1024);
const observationSchema = z.strictObject({
  service: name,
  node: name,
  id: name,
  ok: count,
  refused: count,
  timeout: count,
  http5xx: count,
  other: count,
  latencyMsSum: z.number().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  breakerOpened: z.boolean().optional(),
});
export const observationBatchSchema = z.strictObject({
  observations: z.array(observationSchema).max(MAX_OBSERVATIONS_PER_BATCH),
});

export interface ObservationRouteOptions {
  /** When set, reports must carry it, as every agent write must (Consul's agent:write). */
  readonly aclToken?: string | undefined;
}

/**
 * POST /v1/agent/observations: local SDK clients report their outcomes per endpoint (collective
 * outlier detection, src/outlier). Only from loopback: an opinion is this host's view, so a remote
 * caller must not be able to speak for it, even when the API listens on another address. With an
 * ACL token, also only with the token: on a shared host, any local process could otherwise eject an
 * endpoint mesh-wide (with one other observer) by reporting failures it never saw.
 */
export function registerObservationRoutes(
  app: FastifyInstance,
  mesh: ObservationSink,
  opts: ObservationRouteOptions,
): void {
  // This host's view: one opinion per endpoint its applications call (its record leaves out idle
  // views that never failed: OutlierPlane.recordOpinions()).
  app.get('/v1/agent/opinions', async () => mesh.opinions());

  app.post('/v1/agent/observations', { onRequest: requireToken(opts.aclToken) }, async (req, reply) => {
    const remote = req.socket.remoteAddress ?? '';
    if (!isLoopback(remote))
      throw new ApiError(403, `observations are accepted from local clients only, not ${remote}`);
    const parsed = observationBatchSchema.safeParse(req.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ApiError(400, `${issue?.path.join('.') || 'body'}: ${issue?.message}`);
    }
    const taken = mesh.observe(parsed.data.observations);
    return reply.code(200).send({ accepted: taken, dropped: parsed.data.observations.length - taken });
  });
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
