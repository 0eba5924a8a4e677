import type { FastifyInstance } from 'fastify';
import { CatalogNode } from './catalog/index.ts';
import { formatHostPort } from './config/host-port.ts';
import { redactConfig } from './config/load.ts';
import type { AgentConfig } from './config/schema.ts';
import { loadOrCreateIdentity, type NodeIdentity } from './data-dir/identity.ts';
import { readKeyringFile } from './data-dir/keyring-file.ts';
import { DataDirLock } from './data-dir/lock.ts';
import { Elections } from './election/elections.ts';
import { DEFAULT_ELECTION_TIMING } from './election/timing.ts';
import { ChangeFeed } from './events/change-feed.ts';
import { registerAgentRoutes } from './http/agent-routes.ts';
import { registerConsulCatalogRoutes } from './http/consul-catalog-routes.ts';
import { registerElectionRoutes } from './http/election-routes.ts';
import { registerEventRoutes } from './http/event-routes.ts';
import { registerKeyringRoutes } from './http/keyring-routes.ts';
import { registerMemberRoutes } from './http/member-routes.ts';
import { registerMetricsRoutes } from './http/metrics-routes.ts';
import { registerRouteRoutes } from './http/route-routes.ts';
import { createHttpServer } from './http/server.ts';
import { registerServiceRoutes } from './http/service-routes.ts';
import type { Logger } from './log.ts';
import { advertiseHost, MembershipService, memberInfo } from './membership/membership-service.ts';
import { nodeMeta } from './membership/node-meta.ts';
import { PROFILES } from './membership/profiles.ts';
import { Mesh, peerIdFromMembership } from './mesh/mesh.ts';
import { realRuntime } from './runtime/index.ts';
import { mergeConfiguredServices, readServicesDir } from './services/config-services.ts';
import { ServiceRegistry } from './services/registry.ts';
import { VERSION } from './version.ts';

/** The parts a running agent owns, in the order they start; they stop in reverse. */
interface Parts {
  lock?: DataDirLock;
  registry?: ServiceRegistry;
  catalog?: CatalogNode;
  membership?: MembershipService;
  mesh?: Mesh;
  elections?: Elections;
  http?: FastifyInstance;
}

/** The running daemon: owns the data directory, the planes and the HTTP API. */
export class Agent {
  readonly config: AgentConfig;
  readonly identity: NodeIdentity;
  readonly log: Logger;
  /** This host's services, checks and maintenance flags: the local truth the catalog publishes. */
  readonly services: ServiceRegistry;
  readonly membership: MembershipService;
  readonly catalog: CatalogNode;
  readonly mesh: Mesh;
  readonly elections: Elections;
  private readonly http: FastifyInstance;
  private readonly lock: DataDirLock;
  private stopping: Promise<void> | undefined;
  private shutdownRequested!: () => void;
  /** Resolves when something other than a signal (`vigil leave`) asks the agent to stop. */
  readonly shutdownRequest = new Promise<void>((resolve) => {
    this.shutdownRequested = resolve;
  });

  private constructor(config: AgentConfig, identity: NodeIdentity, log: Logger, parts: Required<Parts>) {
    this.config = config;
    this.identity = identity;
    this.log = log;
    this.lock = parts.lock;
    this.services = parts.registry;
    this.catalog = parts.catalog;
    this.membership = parts.membership;
    this.mesh = parts.mesh;
    this.elections = parts.elections;
    this.http = parts.http;
  }

  static async start(config: AgentConfig, log: Logger): Promise<Agent> {
    const parts: Parts = {};
    let joined = false;
    try {
      parts.lock = DataDirLock.acquire(config.dataDir);
      const identity = await loadOrCreateIdentity(config.dataDir);
      const keys = await gossipKeys(config, log);
      if (keys.length === 0) {
        log.warn('gossip encryption is off: any host that can reach the gossip port can join; pass --encrypt KEY');
      }
      const registry = await ServiceRegistry.open({
        dataDir: config.dataDir,
        node: config.node,
        zone: config.zone,
        log,
        enableExecChecks: config.enableExecChecks,
      });
      parts.registry = registry;
      const fromDir = config.servicesDir === undefined ? [] : readServicesDir(config.servicesDir);
      await registry.applyConfig(mergeConfiguredServices(config.services, fromDir));

      // The catalog listens first, so the address peers dial can go into our membership metadata.
      const hostAddress = config.advertise?.host ?? advertiseHost(config.bind.host);
      const catalog = await CatalogNode.start({
        node: config.node,
        privateKey: identity.privateKey,
        listen: config.p2p,
        gossipKeys: keys,
        peerIdOf: (node) => (parts.membership ? peerIdFromMembership(parts.membership, node) : undefined),
        log,
      }).catch((err: Error) => {
        const inUse = /EADDRINUSE/.test(err.message);
        throw new Error(
          inUse
            ? `cannot listen on --p2p ${formatHostPort(config.p2p)}: the port is in use (another agent? choose another --p2p)`
            : `cannot start the catalog on --p2p ${formatHostPort(config.p2p)}: ${err.message.split('\n')[0]}`,
        );
      });
      parts.catalog = catalog;
      const p2pHost = config.p2p.host === '0.0.0.0' || config.p2p.host === '::' ? hostAddress : config.p2p.host;
      const membership = await MembershipService.start({
        name: config.node,
        bind: config.bind,
        advertise: config.advertise,
        meta: nodeMeta(
          config,
          identity.peerId.toString(),
          formatHostPort({ host: p2pHost, port: catalog.listenPort() }),
        ),
        profile: PROFILES[config.profile],
        keys,
        dataDir: config.dataDir,
        log,
        onKeysChanged: (now) => catalog.setGossipKeys(now),
      });
      parts.membership = membership;

      const feed = new ChangeFeed();
      membership.on('event', (e) => feed.publish('member', { change: e.type, member: memberInfo(e.member) }));
      const mesh = new Mesh({
        node: config.node,
        zone: config.zone,
        nodeAddress: membership.member(config.node)?.addr.host ?? hostAddress,
        catalog,
        membership,
        registry,
        feed,
        log,
        failbackHoldDownMs: config.failbackHoldDown,
        panicThreshold: config.panicThreshold,
      });
      parts.mesh = mesh;
      const elections = await Elections.start({
        node: config.node,
        dataDir: config.dataDir,
        runtime: realRuntime(),
        timing: DEFAULT_ELECTION_TIMING,
        catalog,
        membership,
        registry,
        mesh,
        feed,
        log,
        enableExecChecks: config.enableExecChecks,
      });
      parts.elections = elections;

      const http = createHttpServer(log);
      parts.http = http;
      const agent = new Agent(config, identity, log, parts as Required<Parts>);
      registerAgentRoutes(http, {
        node: config.node,
        datacenter: config.datacenter,
        version: VERSION,
        peerId: identity.peerId.toString(),
        startedAt: new Date(),
        config: redactConfig(config),
        notReady: () => [
          ...(joined ? [] : ['membership: first join']),
          ...(mesh.isSynced() ? [] : ['catalog: first sync with the members']),
        ],
      });
      registerMetricsRoutes(http, { membership, catalog, elections });
      registerEventRoutes(http, feed);
      registerMemberRoutes(http, {
        membership,
        feed,
        aclToken: config.aclToken,
        leaveAndShutdown: async () => {
          await membership.leave();
          // Answer the request first; the shutdown then runs as for SIGTERM.
          setImmediate(() => agent.requestShutdown());
        },
      });
      registerKeyringRoutes(http, { membership, datacenter: config.datacenter, aclToken: config.aclToken });
      registerServiceRoutes(http, {
        registry,
        node: config.node,
        datacenter: config.datacenter,
        aclToken: config.aclToken,
      });
      registerRouteRoutes(http, mesh, feed);
      registerElectionRoutes(http, { elections, mesh, feed, aclToken: config.aclToken });
      registerConsulCatalogRoutes(http, { mesh, membership, feed, datacenter: config.datacenter });
      await http.listen({ host: config.http.host, port: config.http.port });
      registry.start();
      // Seeds from --join plus the members of the last snapshot, so a restart needs no seed.
      void membership.startupJoin(config.join).finally(() => {
        joined = true;
        mesh.markJoined();
      });
      log.info(
        {
          node: config.node,
          peerId: identity.peerId.toString(),
          http: agent.httpAddress(),
          gossip: formatHostPort(membership.address()),
          p2p: catalog.listenAddresses(),
          version: VERSION,
        },
        'agent started',
      );
      return agent;
    } catch (err) {
      await stopParts(parts);
      throw err;
    }
  }

  requestShutdown(): void {
    this.shutdownRequested();
  }

  /** The HTTP address actually bound (differs from the config when it asked for port 0). */
  httpAddress(): string {
    const addr = this.http.server.address();
    return typeof addr === 'object' && addr ? formatHostPort({ host: addr.address, port: addr.port }) : '';
  }

  /** Graceful stop: leave the cluster first (peers see `left`), then close everything. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('agent stopping');
      await this.membership.leave();
      await stopParts({
        lock: this.lock,
        registry: this.services,
        catalog: this.catalog,
        membership: this.membership,
        mesh: this.mesh,
        elections: this.elections,
        http: this.http,
      });
      this.log.info('agent stopped');
    })();
    return this.stopping;
  }
}

/** Stops whatever parts exist, in reverse start order; used on a failed start too. */
async function stopParts(parts: Parts): Promise<void> {
  await parts.http?.close();
  // Leaders demote and hand over while the transport still runs.
  await parts.elections?.stop();
  await parts.mesh?.stop();
  await parts.membership?.stop();
  await parts.catalog?.stop();
  await parts.registry?.stop();
  parts.lock?.release();
}

/**
 * The gossip keys to start with. A key rotation (`vigil keys`, `serf keys`) leaves the keyring in
 * the data directory, and that wins over --encrypt, as Consul's local.keyring does: the cluster
 * may have moved on to keys the configuration never held.
 */
async function gossipKeys(config: AgentConfig, log: Logger): Promise<Uint8Array[]> {
  const saved = await readKeyringFile(config.dataDir);
  if (!saved) return config.encrypt;
  const primary = config.encrypt[0];
  if (primary && !Buffer.from(primary).equals(saved[0]!)) {
    log.warn(
      { keys: saved.length },
      'the data directory holds the keyring a key rotation left (local.keyring); its primary key is used, not --encrypt',
    );
  }
  return saved;
}
