import type { FastifyInstance } from 'fastify';
import type { CatalogNode } from './catalog/index.ts';
import { redactConfig } from './config/load.ts';
import type { AgentConfig } from './config/schema.ts';
import type { NodeIdentity } from './data-dir/identity.ts';
import type { DnsServer } from './dns/index.ts';
import type { Elections } from './election/elections.ts';
import type { ChangeFeed } from './events/change-feed.ts';
import { registerAgentRoutes } from './http/agent-routes.ts';
import { gateOnCatalogSync } from './http/catalog-sync-gate.ts';
import { registerConsulAgentRoutes } from './http/consul-agent-routes.ts';
import { registerConsulCatalogRoutes } from './http/consul-catalog-routes.ts';
import { registerElectionRoutes } from './http/election-routes.ts';
import { registerEventRoutes } from './http/event-routes.ts';
import { registerKeyringRoutes } from './http/keyring-routes.ts';
import { registerMemberRoutes } from './http/member-routes.ts';
import { registerMetricsRoutes } from './http/metrics-routes.ts';
import { registerObservationRoutes } from './http/observation-routes.ts';
import { registerRouteRoutes } from './http/route-routes.ts';
import { registerServiceRoutes } from './http/service-routes.ts';
import { registerUiRoutes } from './http/ui-routes.ts';
import { registerVerdictRoutes } from './http/verdict-routes.ts';
import type { LogTap } from './log-tap.ts';
import type { MembershipService } from './membership/membership-service.ts';
import type { Mesh } from './mesh/mesh.ts';
import type { ServiceRegistry } from './services/registry.ts';
import { VERSION } from './version.ts';

/** What the HTTP API reads and drives: the started planes and a few agent-level hooks. */
export interface ApiDeps {
  readonly config: AgentConfig;
  readonly identity: NodeIdentity;
  readonly registry: ServiceRegistry;
  readonly catalog: CatalogNode;
  readonly membership: MembershipService;
  readonly mesh: Mesh;
  readonly dns: DnsServer | undefined;
  readonly elections: Elections;
  readonly feed: ChangeFeed;
  readonly logTap: LogTap | undefined;
  /** The configuration in effect now (reloads change it). */
  readonly currentConfig: () => AgentConfig;
  /** Whether the startup join has finished. */
  readonly joined: () => boolean;
  /** Asks the agent to stop, as SIGTERM does. */
  readonly requestShutdown: () => void;
}

/** Mounts every route on `http`; it does not listen yet. */
export function mountApi(http: FastifyInstance, deps: ApiDeps): void {
  const { config, identity, registry, catalog, membership, mesh, elections, feed } = deps;
  // Before the routes: each route that reads the catalog declares it (NEEDS_CATALOG_SYNC).
  gateOnCatalogSync(http, mesh);
  registerAgentRoutes(http, {
    node: config.node,
    datacenter: config.datacenter,
    version: VERSION,
    peerId: identity.peerId.toString(),
    startedAt: new Date(),
    config: () => redactConfig(deps.currentConfig()),
    notReady: () => [
      ...(deps.joined() ? [] : ['membership: first join']),
      ...(mesh.isSynced() ? [] : ['catalog: first sync with the members']),
    ],
  });
  const events = registerEventRoutes(http, feed);
  registerMetricsRoutes(http, {
    membership,
    catalog,
    dns: deps.dns,
    mesh: { mesh, services: registry },
    sseSubscribers: events.subscribers,
    elections,
  });
  registerMemberRoutes(http, {
    membership,
    feed,
    aclToken: config.aclToken,
    leaveAndShutdown: async () => {
      await mesh.drain(config.drainTimeout).catch(() => false);
      await membership.leave();
      // Answer the request first; the shutdown then runs as for SIGTERM.
      setImmediate(() => deps.requestShutdown());
    },
  });
  registerVerdictRoutes(http, membership);
  registerKeyringRoutes(http, { membership, datacenter: config.datacenter, aclToken: config.aclToken });
  registerServiceRoutes(http, {
    registry,
    node: config.node,
    datacenter: config.datacenter,
    aclToken: config.aclToken,
  });
  registerRouteRoutes(http, mesh, feed);
  registerObservationRoutes(http, mesh, { aclToken: config.aclToken });
  registerElectionRoutes(http, { elections, mesh, feed, aclToken: config.aclToken });
  registerConsulCatalogRoutes(http, { mesh, membership, feed, datacenter: config.datacenter });
  registerUiRoutes(http, { mesh, feed });
  registerConsulAgentRoutes(http, {
    membership,
    datacenter: config.datacenter,
    aclToken: config.aclToken,
    logTap: deps.logTap,
  });
}
