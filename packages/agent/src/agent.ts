import type { FastifyInstance } from 'fastify';
import { formatHostPort } from './config/host-port.ts';
import { redactConfig } from './config/load.ts';
import type { AgentConfig } from './config/schema.ts';
import { loadOrCreateIdentity, type NodeIdentity } from './data-dir/identity.ts';
import { DataDirLock } from './data-dir/lock.ts';
import { ChangeFeed } from './events/change-feed.ts';
import { registerAgentRoutes } from './http/agent-routes.ts';
import { registerEventRoutes } from './http/event-routes.ts';
import { registerMemberRoutes } from './http/member-routes.ts';
import { registerMetricsRoutes } from './http/metrics-routes.ts';
import { createHttpServer } from './http/server.ts';
import { registerServiceRoutes } from './http/service-routes.ts';
import type { Logger } from './log.ts';
import { MembershipService, memberInfo } from './membership/membership-service.ts';
import { nodeMeta } from './membership/node-meta.ts';
import { PROFILES } from './membership/profiles.ts';
import { mergeConfiguredServices, readServicesDir } from './services/config-services.ts';
import { ServiceRegistry } from './services/registry.ts';
import { VERSION } from './version.ts';

/** The running daemon: owns the data directory, the planes and the HTTP API. */
export class Agent {
  private stopping: Promise<void> | undefined;
  private shutdownRequested!: () => void;
  /** Resolves when something other than a signal (`vigil leave`) asks the agent to stop. */
  readonly shutdownRequest = new Promise<void>((resolve) => {
    this.shutdownRequested = resolve;
  });

  readonly config: AgentConfig;
  readonly identity: NodeIdentity;
  readonly log: Logger;
  private readonly lock: DataDirLock;
  private readonly http: FastifyInstance;
  /** This host's services, checks and maintenance flags: the local truth the catalog publishes. */
  readonly services: ServiceRegistry;
  readonly membership: MembershipService;

  private constructor(
    config: AgentConfig,
    identity: NodeIdentity,
    log: Logger,
    lock: DataDirLock,
    http: FastifyInstance,
    services: ServiceRegistry,
    membership: MembershipService,
  ) {
    this.config = config;
    this.identity = identity;
    this.log = log;
    this.lock = lock;
    this.http = http;
    this.services = services;
    this.membership = membership;
  }

  static async start(config: AgentConfig, log: Logger): Promise<Agent> {
    const lock = DataDirLock.acquire(config.dataDir);
    let http: FastifyInstance | undefined;
    let services: ServiceRegistry | undefined;
    let membership: MembershipService | undefined;
    let joined = false;
    try {
      const identity = await loadOrCreateIdentity(config.dataDir);
      if (config.encrypt.length === 0) {
        log.warn('gossip encryption is off: any host that can reach the gossip port can join; pass --encrypt KEY');
      }
      services = await ServiceRegistry.open({
        dataDir: config.dataDir,
        node: config.node,
        zone: config.zone,
        log,
        enableExecChecks: config.enableExecChecks,
      });
      const fromDir = config.servicesDir === undefined ? [] : readServicesDir(config.servicesDir);
      await services.applyConfig(mergeConfiguredServices(config.services, fromDir));
      membership = await MembershipService.start({
        name: config.node,
        bind: config.bind,
        advertise: config.advertise,
        meta: nodeMeta(config, identity.peerId.toString()),
        profile: PROFILES[config.profile],
        keys: config.encrypt,
        dataDir: config.dataDir,
        log,
      });
      const feed = new ChangeFeed();
      membership.on('event', (e) => {
        feed.publish('member', { change: e.type, member: memberInfo(e.member) });
      });
      http = createHttpServer(log);
      const agent = new Agent(config, identity, log, lock, http, services, membership);
      registerAgentRoutes(http, {
        node: config.node,
        datacenter: config.datacenter,
        version: VERSION,
        peerId: identity.peerId.toString(),
        startedAt: new Date(),
        config: redactConfig(config),
        notReady: () => (joined ? [] : ['membership: first join']),
      });
      registerMetricsRoutes(http, { membership });
      registerEventRoutes(http, feed);
      registerMemberRoutes(http, {
        membership,
        feed,
        aclToken: config.aclToken,
        leaveAndShutdown: async () => {
          await membership?.leave();
          // Answer the request first; the shutdown then runs as for SIGTERM.
          setImmediate(() => agent.requestShutdown());
        },
      });
      registerServiceRoutes(http, {
        registry: services,
        node: config.node,
        datacenter: config.datacenter,
        aclToken: config.aclToken,
      });
      await http.listen({ host: config.http.host, port: config.http.port });
      services.start();
      // Seeds from --join plus the members of the last snapshot, so a restart needs no seed.
      void membership.startupJoin(config.join).finally(() => {
        joined = true;
      });
      log.info(
        {
          node: config.node,
          peerId: identity.peerId.toString(),
          http: agent.httpAddress(),
          gossip: formatHostPort(membership.address()),
          version: VERSION,
        },
        'agent started',
      );
      return agent;
    } catch (err) {
      await http?.close();
      await services?.stop();
      await membership?.stop();
      lock.release();
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

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('agent stopping');
      await this.membership.leave();
      await this.http.close();
      await this.services.stop();
      await this.membership.stop();
      this.lock.release();
      this.log.info('agent stopped');
    })();
    return this.stopping;
  }
}
