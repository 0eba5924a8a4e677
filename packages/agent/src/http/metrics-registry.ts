import { type Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import type { GroupStatus } from '../election/group.ts';
import type { MemberTransitions } from './member-transitions.ts';
import { type MeshMetricsSources, registerMeshMetrics } from './mesh-metrics.ts';
import type { CatalogStatsReader, DnsStats, ElectionStats, GossipStats } from './planes.ts';
import { counter, gauge, type Samples } from './prom-collectors.ts';

export interface MetricsSources {
  readonly membership: GossipStats;
  readonly catalog?: CatalogStatsReader | undefined;
  readonly dns?: DnsStats | undefined;
  /** Routing, checks and catalog freshness: the figures alerts read. */
  readonly mesh?: Omit<MeshMetricsSources, 'membership' | 'catalog' | 'transitions'> | undefined;
  /** Open SSE streams (GET /v1/events). */
  readonly sseSubscribers?: (() => number) | undefined;
  readonly elections?: ElectionStats | undefined;
}

/** One answered HTTP request, for vigil_http_request_duration_seconds. */
export interface RequestSample {
  readonly method: string;
  readonly route: string;
  readonly code: string;
  readonly seconds: number;
}

/** The Prometheus registry of an agent, built when first needed (see metrics-routes.ts). */
export interface MetricsRegistry {
  observe(sample: RequestSample): void;
  /** The exposition text; the process metrics start at the first call. */
  scrape(): Promise<string>;
  readonly contentType: string;
}

/**
 * Every collector the agent exports. Values are read from the planes' own counters at scrape time
 * (collect callbacks), so the hot paths never touch prom-client.
 */
export function buildMetricsRegistry(sources: MetricsSources, transitions: () => MemberTransitions): MetricsRegistry {
  const registry = new Registry();
  // The process metrics start at the first scrape: their event-loop-delay monitor wakes the agent
  // 10 times a second (at 100 ms precision; prom-client's default, 10 ms, is 100 times) from then
  // on, which an agent nobody scrapes should not pay: 43 -> 37 wake-ups a second for an idle agent.
  let defaultMetrics = false;
  const { membership } = sources;
  const c = membership.counters;

  counter(registry, 'vigil_gossip_packets_total', 'Gossip UDP packets, by direction.', ['direction'], () => [
    [{ direction: 'in' }, c.packetsIn],
    [{ direction: 'out' }, c.packetsOut],
  ]);
  counter(registry, 'vigil_gossip_bytes_total', 'Gossip UDP bytes on the wire, by direction.', ['direction'], () => [
    [{ direction: 'in' }, c.bytesIn],
    [{ direction: 'out' }, c.bytesOut],
  ]);
  counter(
    registry,
    'vigil_gossip_dropped_total',
    'Inbound gossip packets or parts dropped, by reason (malformed, decrypt-failed, ...).',
    ['reason'],
    () => Object.entries(c.drops).map(([reason, n]) => [{ reason }, n]),
  );
  counter(
    registry,
    'vigil_serf_dropped_total',
    'Serf-layer messages (user events, intents, queries, answers) refused, by reason (malformed, replayed, stray-response, handler-failed).',
    ['reason'],
    () => Object.entries(membership.serfDrops()).map(([reason, n]) => [{ reason }, n]),
  );
  counter(
    registry,
    'vigil_gossip_streams_total',
    'Gossip TCP streams (push/pull, fallback ping), by direction and outcome.',
    ['direction'],
    () => [
      [{ direction: 'in' }, c.streamsIn],
      [{ direction: 'out' }, c.streamsOut],
      [{ direction: 'failed' }, c.streamFailures],
    ],
  );
  counter(
    registry,
    'vigil_gossip_probe_hints_total',
    'Out-of-turn probes asked for because a catalog connection to the member dropped, by result: started, busy (a probe of it was already out), ignored (not alive, or ourselves leaving).',
    ['result'],
    () => Object.entries(c.probeHints).map(([result, n]) => [{ result }, n]),
  );
  counter(
    registry,
    'vigil_gossip_tcp_pings_total',
    "TCP fallback pings (a probe's UDP and indirect pings failed), by result: ack, refused (nothing listens on the member's gossip port: a crashed process), failed (timeout, other errors).",
    ['result'],
    () => Object.entries(c.tcpPings).map(([result, n]) => [{ result }, n]),
  );
  gauge(registry, 'vigil_members', 'Members this agent sees, by status.', ['status'], () => {
    const counts: Record<string, number> = { alive: 0, suspect: 0, dead: 0, left: 0 };
    for (const m of membership.members()) counts[m.status] = (counts[m.status] ?? 0) + 1;
    return Object.entries(counts).map(([status, n]) => [{ status }, n]);
  });
  gauge(
    registry,
    'vigil_health_score',
    'Lifeguard local health multiplier score (0 is healthy); probes back off by score + 1.',
    [],
    () => [[{}, membership.health()]],
  );

  if (sources.catalog) registerCatalogMetrics(registry, sources.catalog);
  if (sources.dns) registerDnsMetrics(registry, sources.dns);
  if (sources.mesh && sources.catalog) {
    registerMeshMetrics(registry, { ...sources.mesh, membership, catalog: sources.catalog, transitions });
  }
  const { sseSubscribers } = sources;
  if (sseSubscribers) {
    gauge(registry, 'vigil_sse_subscribers', 'Open event streams (GET /v1/events).', [], () => [
      [{}, sseSubscribers()],
    ]);
  }
  const requests = new Histogram({
    name: 'vigil_http_request_duration_seconds',
    help: 'HTTP API requests by method, route pattern and status, until the response was sent (blocking queries include their wait).',
    labelNames: ['method', 'route', 'code'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300],
    registers: [registry],
  });
  if (sources.elections) registerElectionMetrics(registry, sources.elections);

  return {
    observe: ({ method, route, code, seconds }) => requests.observe({ method, route, code }, seconds),
    contentType: registry.contentType,
    scrape: () => {
      if (!defaultMetrics) {
        defaultMetrics = true;
        const before = process.cpuUsage();
        collectDefaultMetrics({ register: registry, prefix: 'vigil_', eventLoopMonitoringPrecision: 100 });
        // prom-client counts CPU from its registration: add what the process used before, so the
        // counters stay totals since the start.
        const add = (name: string, micros: number) =>
          (registry.getSingleMetric(`vigil_${name}`) as Counter | undefined)?.inc(micros / 1e6);
        add('process_cpu_user_seconds_total', before.user);
        add('process_cpu_system_seconds_total', before.system);
        add('process_cpu_seconds_total', before.user + before.system);
      }
      return registry.metrics();
    },
  };
}

/** The catalog plane: what it holds, whom it talks to, and what it refused (with the reason). */
function registerCatalogMetrics(registry: Registry, catalog: CatalogStatsReader): void {
  const stats = () => catalog.stats();
  gauge(registry, 'vigil_catalog_records', 'Service records held (one per node, this one included).', [], () => [
    [{}, stats().records],
  ]);
  gauge(
    registry,
    'vigil_catalog_peers',
    'libp2p peers: allowed by membership, connected, and connected with a catalog subscription.',
    ['state'],
    () => {
      const s = stats();
      return [
        [{ state: 'allowed' }, s.allowedPeers],
        [{ state: 'connected' }, s.connectedPeers],
        [{ state: 'gossip' }, s.gossipPeers],
      ];
    },
  );
  counter(
    registry,
    'vigil_catalog_records_received_total',
    'Valid records received, by path and by whether they were newer than what was held.',
    ['path', 'outcome'],
    () => {
      const s = stats();
      return [
        [{ path: 'gossip', outcome: 'accepted' }, s.accepted.gossip],
        [{ path: 'sync', outcome: 'accepted' }, s.accepted.sync],
        [{ path: 'any', outcome: 'stale' }, s.stale],
      ];
    },
  );
  counter(
    registry,
    'vigil_catalog_records_rejected_total',
    'Records refused (wrong signer, bad signature, malformed, ...), by reason.',
    ['reason'],
    () => Object.entries(stats().rejected).map(([reason, n]) => [{ reason }, n]),
  );
  counter(
    registry,
    'vigil_catalog_published_total',
    'Own records published, by outcome (a failed gossip publish is left to anti-entropy).',
    ['outcome'],
    () => {
      const s = stats();
      return [
        [{ outcome: 'ok' }, s.published],
        [{ outcome: 'failed' }, s.publishErrors],
      ];
    },
  );
  counter(
    registry,
    'vigil_catalog_sync_total',
    'Anti-entropy exchanges started by this agent, by outcome, and records they moved.',
    ['event'],
    () => {
      const s = stats();
      return [
        [{ event: 'run' }, s.syncRuns],
        [{ event: 'failed' }, s.syncFailures],
        [{ event: 'malformed' }, s.syncMalformed],
        [{ event: 'record_sent' }, s.syncRecordsSent],
        [{ event: 'record_received' }, s.syncRecordsReceived],
      ];
    },
  );
  counter(
    registry,
    'vigil_catalog_connections_total',
    'libp2p connection attempts, dials held back while our loop was starved, and hang-ups decided by membership.',
    ['event'],
    () => {
      const s = stats();
      return [
        [{ event: 'dial' }, s.dials],
        [{ event: 'dial_failed' }, s.dialFailures],
        [{ event: 'dial_held' }, s.dialHolds],
        [{ event: 'hang_up' }, s.hangUps],
      ];
    },
  );
}

/** The DNS interface: queries by transport, answers by rcode, and what it refused to answer. */
function registerDnsMetrics(registry: Registry, dns: DnsStats): void {
  const c = dns.counters;
  counter(registry, 'vigil_dns_queries_total', 'DNS queries received, by transport.', ['transport'], () => [
    [{ transport: 'udp' }, c.queries.udp],
    [{ transport: 'tcp' }, c.queries.tcp],
  ]);
  counter(registry, 'vigil_dns_responses_total', 'DNS responses sent, by rcode.', ['rcode'], () =>
    Object.entries(c.responses).map(([rcode, n]) => [{ rcode }, n ?? 0]),
  );
  counter(
    registry,
    'vigil_dns_truncated_total',
    'UDP responses truncated (TC set: the client retries over TCP).',
    [],
    () => [[{}, c.truncated]],
  );
  counter(
    registry,
    'vigil_dns_dropped_total',
    'DNS queries or connections dropped without an answer, by reason (short, response, oversized, tcp-limit, tcp-idle, ...).',
    ['reason'],
    () => Object.entries(c.drops).map(([reason, n]) => [{ reason }, n]),
  );
  counter(registry, 'vigil_dns_tcp_connections_total', 'DNS TCP connections accepted.', [], () => [
    [{}, c.tcpConnections],
  ]);
}

/** The election plane, per group this agent votes in. */
function registerElectionMetrics(registry: Registry, elections: ElectionStats): void {
  const per = (pick: (s: GroupStatus) => number): Samples =>
    elections.statuses().map((s) => [{ group: s.group }, pick(s)]);
  counter(registry, 'vigil_election_leader_changes_total', 'Changes of leader seen, per group.', ['group'], () =>
    per((s) => s.leaderChanges),
  );
  gauge(registry, 'vigil_election_term', 'Current Raft term, per group.', ['group'], () => per((s) => s.term));
  gauge(registry, 'vigil_election_commit_index', 'Commit index, per group.', ['group'], () => per((s) => s.commit));
  gauge(
    registry,
    'vigil_election_token',
    'Fencing token of the latest committed leadership, per group.',
    ['group'],
    () => per((s) => s.token),
  );
  gauge(
    registry,
    'vigil_election_lease_remaining_seconds',
    'Lease left on this agent (0 unless it leads), per group.',
    ['group'],
    () => per((s) => s.leaseRemainingMs / 1000),
  );
  gauge(
    registry,
    'vigil_election_acting',
    '1 while this agent acts as the leader (after OnPromote), per group.',
    ['group'],
    () => per((s) => (s.acting === 'acting' ? 1 : 0)),
  );
  counter(
    registry,
    'vigil_election_messages_total',
    'Raft messages on the election transport, by event.',
    ['event'],
    () => Object.entries(elections.transportCounters()).map(([event, n]) => [{ event }, n]),
  );
  counter(
    registry,
    'vigil_election_forwards_total',
    'Requests forwarded to a group leader (forwarded, failed) and served for other agents (served, malformed).',
    ['event'],
    () => Object.entries(elections.forwardCounters()).map(([event, n]) => [{ event }, n]),
  );
}
