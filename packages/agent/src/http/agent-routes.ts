import type { FastifyInstance } from 'fastify';

export interface AgentInfo {
  readonly node: string;
  readonly datacenter: string;
  readonly version: string;
  readonly peerId: string;
  readonly startedAt: Date;
  /** The configuration in effect, redacted (it changes on reload). */
  readonly config: () => Record<string, unknown>;
  /** Names of the parts that are not ready yet; empty when the agent is ready. */
  readonly notReady: () => readonly string[];
}

export function registerAgentRoutes(app: FastifyInstance, info: AgentInfo): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const waiting = info.notReady();
    if (waiting.length > 0) return reply.code(503).send({ status: 'starting', waiting });
    return { status: 'ready' };
  });

  app.get('/v1/agent/self', async () => ({
    // Consul's shape, which Prometheus' consul_sd and consul-template read.
    Config: {
      Datacenter: info.datacenter,
      NodeName: info.node,
      NodeID: info.peerId,
      Version: info.version,
    },
    Vigil: {
      node: info.node,
      version: info.version,
      peerId: info.peerId,
      startedAt: info.startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - info.startedAt.getTime()) / 1000),
      config: info.config(),
    },
  }));
}
