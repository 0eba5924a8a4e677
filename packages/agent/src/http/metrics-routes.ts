import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { CatalogNode } from '../catalog/index.ts';
import type { MembershipService } from '../membership/membership-service.ts';

export interface MetricsSources {
  readonly membership: MembershipService;
  readonly catalog?: CatalogNode | undefined;
}

/**
 * Prometheus exposition at /metrics. Values are read from the planes' own counters at scrape time
 * (collect callbacks), so the hot paths never touch prom-client.
 */
export function registerMetricsRoutes(app: FastifyInstance, sources: MetricsSources): void {
  const registry = new Registry();
  // prom-client samples event-loop delay every 10 ms by default, which wakes an otherwise idle
  // agent 100 times a second (~0.3 % CPU per agent, measured): 100 ms is plenty for a lag gauge.
  collectDefaultMetrics({ register: registry, prefix: 'vigil_', eventLoopMonitoringPrecision: 100 });
  const { membership } = sources;
  const c = membership.counters;

  new Counter({
    name: 'vigil_gossip_packets_total',
    help: 'Gossip UDP packets, by direction.',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ direction: 'in' }, c.packetsIn);
      this.inc({ direction: 'out' }, c.packetsOut);
    },
  });
  new Counter({
    name: 'vigil_gossip_bytes_total',
    help: 'Gossip UDP bytes on the wire, by direction.',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ direction: 'in' }, c.bytesIn);
      this.inc({ direction: 'out' }, c.bytesOut);
    },
  });
  new Counter({
    name: 'vigil_gossip_dropped_total',
    help: 'Inbound gossip packets or parts dropped, by reason (malformed, decrypt-failed, ...).',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(c.drops)) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: 'vigil_gossip_streams_total',
    help: 'Gossip TCP streams (push/pull, fallback ping), by direction and outcome.',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ direction: 'in' }, c.streamsIn);
      this.inc({ direction: 'out' }, c.streamsOut);
      this.inc({ direction: 'failed' }, c.streamFailures);
    },
  });
  new Gauge({
    name: 'vigil_members',
    help: 'Members this agent sees, by status.',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      const counts: Record<string, number> = { alive: 0, suspect: 0, dead: 0, left: 0 };
      for (const m of membership.members()) counts[m.status] = (counts[m.status] ?? 0) + 1;
      for (const [status, n] of Object.entries(counts)) this.set({ status }, n);
    },
  });
  new Gauge({
    name: 'vigil_health_score',
    help: 'Lifeguard local health multiplier score (0 is healthy); probes back off by score + 1.',
    registers: [registry],
    collect() {
      this.set(membership.health());
    },
  });

  if (sources.catalog) registerCatalogMetrics(registry, sources.catalog);

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
}

/** The catalog plane: what it holds, whom it talks to, and what it refused (with the reason). */
function registerCatalogMetrics(registry: Registry, catalog: CatalogNode): void {
  new Gauge({
    name: 'vigil_catalog_records',
    help: 'Service records held (one per node, this one included).',
    registers: [registry],
    collect() {
      this.set(catalog.stats().records);
    },
  });
  new Gauge({
    name: 'vigil_catalog_peers',
    help: 'libp2p peers: allowed by membership, connected, and connected with a catalog subscription.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const s = catalog.stats();
      this.set({ state: 'allowed' }, s.allowedPeers);
      this.set({ state: 'connected' }, s.connectedPeers);
      this.set({ state: 'gossip' }, s.gossipPeers);
    },
  });
  new Counter({
    name: 'vigil_catalog_records_received_total',
    help: 'Valid records received, by path and by whether they were newer than what was held.',
    labelNames: ['path', 'outcome'],
    registers: [registry],
    collect() {
      const s = catalog.stats();
      this.reset();
      this.inc({ path: 'gossip', outcome: 'accepted' }, s.accepted.gossip);
      this.inc({ path: 'sync', outcome: 'accepted' }, s.accepted.sync);
      this.inc({ path: 'any', outcome: 'stale' }, s.stale);
    },
  });
  new Counter({
    name: 'vigil_catalog_records_rejected_total',
    help: 'Records refused (wrong signer, bad signature, malformed, ...), by reason.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(catalog.stats().rejected)) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: 'vigil_catalog_published_total',
    help: 'Own records published, by outcome (a failed gossip publish is left to anti-entropy).',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      const s = catalog.stats();
      this.reset();
      this.inc({ outcome: 'ok' }, s.published);
      this.inc({ outcome: 'failed' }, s.publishErrors);
    },
  });
  new Counter({
    name: 'vigil_catalog_sync_total',
    help: 'Anti-entropy exchanges started by this agent, by outcome, and records they moved.',
    labelNames: ['event'],
    registers: [registry],
    collect() {
      const s = catalog.stats();
      this.reset();
      this.inc({ event: 'run' }, s.syncRuns);
      this.inc({ event: 'failed' }, s.syncFailures);
      this.inc({ event: 'malformed' }, s.syncMalformed);
      this.inc({ event: 'record_sent' }, s.syncRecordsSent);
      this.inc({ event: 'record_received' }, s.syncRecordsReceived);
    },
  });
  new Counter({
    name: 'vigil_catalog_connections_total',
    help: 'libp2p connection attempts and hang-ups decided by membership.',
    labelNames: ['event'],
    registers: [registry],
    collect() {
      const s = catalog.stats();
      this.reset();
      this.inc({ event: 'dial' }, s.dials);
      this.inc({ event: 'dial_failed' }, s.dialFailures);
      this.inc({ event: 'hang_up' }, s.hangUps);
    },
  });
}
