import { isDeepStrictEqual } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { CatalogNode } from './catalog/index.ts';
import { formatHostPort, isLoopbackHost } from './config/host-port.ts';
import { redactConfig } from './config/load.ts';
import type { AgentConfig } from './config/schema.ts';
import { DataDir } from './data-dir/data-dir.ts';
import type { NodeIdentity } from './data-dir/identity.ts';
import type { DataDirLock } from './data-dir/lock.ts';
import { DnsServer, dnsSnapshotSource, tableLeader } from './dns/index.ts';
import { Elections } from './election/elections.ts';
import { DEFAULT_ELECTION_TIMING } from './election/timing.ts';
import { ChangeFeed } from './events/change-feed.ts';
import { registerAgentRoutes } from './http/agent-routes.ts';
import { registerConsulAgentRoutes } from './http/consul-agent-routes.ts';
import { registerConsulCatalogRoutes } from './http/consul-catalog-routes.ts';
import { registerElectionRoutes } from './http/election-routes.ts';
import { registerEventRoutes } from './http/event-routes.ts';
import { registerKeyringRoutes } from './http/keyring-routes.ts';
import { registerMemberRoutes } from './http/member-routes.ts';
import { registerMetricsRoutes } from './http/metrics-routes.ts';
import { registerObservationRoutes } from './http/observation-routes.ts';
import { registerRouteRoutes } from './http/route-routes.ts';
import { createHttpServer } from './http/server.ts';
import { registerServiceRoutes } from './http/service-routes.ts';
import { registerUiRoutes } from './http/ui-routes.ts';
import { registerVerdictRoutes } from './http/verdict-routes.ts';
import type { Logger } from './log.ts';
import type { LogTap } from './log-tap.ts';
import { advertiseHost, MembershipService, memberInfo } from './membership/membership-service.ts';
import { nodeMeta } from './membership/node-meta.ts';
import { PROFILES } from './membership/profiles.ts';
import { recordOverflow } from './mesh/local-record.ts';
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
  /** Absent when DNS is off. */
  dns?: DnsServer | undefined;
  elections?: Elections;
  http?: FastifyInstance;
}

/** The running daemon: owns the data directory, the planes and the HTTP API. */
export class Agent {
  /** The configuration in effect: the start's, with what reloads (SIGHUP) changed since. */
  private current: AgentConfig;
  readonly identity: NodeIdentity;
  readonly log: Logger;
  /** This host's services, checks and maintenance flags: the local truth the catalog publishes. */
  readonly services: ServiceRegistry;
  readonly membership: MembershipService;
  readonly catalog: CatalogNode;
  readonly mesh: Mesh;
  readonly dns: DnsServer | undefined;
  readonly elections: Elections;
  private readonly http: FastifyInstance;
  private readonly lock: DataDirLock;
  /** The libp2p address our metadata announces (kept for reloads that change tags). */
  private p2pAddress = '';
  private stopping: Promise<void> | undefined;
  private shutdownRequested!: () => void;
  /** Resolves when something other than a signal (`vigil leave`) asks the agent to stop. */
  readonly shutdownRequest = new Promise<void>((resolve) => {
    this.shutdownRequested = resolve;
  });

  private constructor(config: AgentConfig, identity: NodeIdentity, log: Logger, parts: Required<Parts>) {
    this.current = config;
    this.identity = identity;
    this.log = log;
    this.lock = parts.lock;
    this.services = parts.registry;
    this.catalog = parts.catalog;
    this.membership = parts.membership;
    this.mesh = parts.mesh;
    this.dns = parts.dns;
    this.elections = parts.elections;
    this.http = parts.http;
  }

  get config(): AgentConfig {
    return this.current;
  }

  /** `logTap`: the log's second destination, streamed by GET /v1/agent/monitor. */
  static async start(config: AgentConfig, log: Logger, logTap?: LogTap): Promise<Agent> {
    const parts: Parts = {};
    let joined = false;
    try {
      const dataDir = new DataDir(config.dataDir);
      parts.lock = dataDir.lock();
      const identity = await dataDir.identity();
      const keys = await gossipKeys(config, dataDir, log);
      if (!isLoopbackHost(config.http.host) && config.aclToken === undefined) {
        log.warn(
          { http: formatHostPort(config.http) },
          'the HTTP API listens beyond loopback without an ACL token: any host that reaches it can register services and rotate keys; pass --acl-token',
        );
      }
      if (keys.length === 0) {
        log.warn('gossip encryption is off: any host that can reach the gossip port can join; pass --encrypt KEY');
      }
      const registry = await ServiceRegistry.open({
        dataDir,
        node: config.node,
        zone: config.zone,
        log,
        enableExecChecks: config.enableExecChecks,
        admit: (services) => recordOverflow(config.node, identity.peerId.toString(), services),
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
      const p2pAddress = formatHostPort({ host: p2pHost, port: catalog.listenPort() });
      const membership = await MembershipService.start({
        name: config.node,
        bind: config.bind,
        advertise: config.advertise,
        meta: nodeMeta(config, identity.peerId.toString(), p2pAddress),
        profile: PROFILES[config.profile],
        keys,
        dataDir,
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
        outlier: { windowMs: config.outlierWindow, baseEjectionMs: config.outlierBaseEjection },
      });
      parts.mesh = mesh;
      if (config.dns !== null) {
        parts.dns = await DnsServer.start({
          listen: config.dns,
          domain: config.domain,
          ttl: config.dnsTtl,
          runtime: realRuntime(),
          snapshot: dnsSnapshotSource(
            {
              index: () => feed.index(),
              ready: () => mesh.isSynced(),
              tables: () => mesh.tables(),
              nodes: () => membership.members().map((m) => ({ name: m.name, address: m.addr, status: m.status })),
              leader: (service) => tableLeader(mesh.table(service)),
            },
            (err) => log.error({ err }, 'dns: cannot read the tables; answering from the last ones'),
          ),
        });
      }
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

      const http = createHttpServer(log, { allowedHosts: config.httpAllowedHosts });
      parts.http = http;
      const agent = new Agent(config, identity, log, parts as Required<Parts> & Parts);
      agent.p2pAddress = p2pAddress;
      registerAgentRoutes(http, {
        node: config.node,
        datacenter: config.datacenter,
        version: VERSION,
        peerId: identity.peerId.toString(),
        startedAt: new Date(),
        config: () => redactConfig(agent.config),
        notReady: () => [
          ...(joined ? [] : ['membership: first join']),
          ...(mesh.isSynced() ? [] : ['catalog: first sync with the members']),
        ],
      });
      const events = registerEventRoutes(http, feed);
      registerMetricsRoutes(http, {
        membership,
        catalog,
        dns: parts.dns,
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
          setImmediate(() => agent.requestShutdown());
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
        logTap,
      });
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
          dns: parts.dns ? formatHostPort(parts.dns.address()) : 'off',
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

  /**
   * Applies a re-read configuration (SIGHUP), as `consul reload` does: log level, configured
   * services and checks (the config file's and services_dir's), and node tags. Whatever is wrong
   * in it throws before anything changes. Other fields take effect at the next start; they are
   * returned so the caller can say so.
   */
  async reload(next: AgentConfig): Promise<{ applied: string[]; needRestart: string[] }> {
    const before = this.current;
    const registrations = mergeConfiguredServices(
      next.services,
      next.servicesDir === undefined ? [] : readServicesDir(next.servicesDir),
    );
    const tagsChanged = !isDeepStrictEqual(before.tags, next.tags);
    const meta = tagsChanged ? nodeMeta(next, this.identity.peerId.toString(), this.p2pAddress) : undefined;
    await this.services.applyConfig(registrations);
    this.log.level = next.logLevel;
    if (meta !== undefined) this.membership.setMeta(meta);
    this.current = {
      ...before,
      logLevel: next.logLevel,
      services: next.services,
      servicesDir: next.servicesDir,
      tags: next.tags,
    };
    const old = redactConfig(before);
    const now = redactConfig(next);
    const applied = RELOADABLE.filter((k) => !isDeepStrictEqual(old[k], now[k]));
    const needRestart = Object.keys(now).filter(
      (k) => !(RELOADABLE as readonly string[]).includes(k) && !isDeepStrictEqual(old[k], now[k]),
    );
    return { applied, needRestart };
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
      // Drain first: new traffic stops everywhere, requests in flight get up to the bound.
      if (await this.mesh.drain(this.config.drainTimeout).catch(() => false)) this.log.info('agent drained');
      await this.membership.leave();
      await stopParts({
        lock: this.lock,
        registry: this.services,
        catalog: this.catalog,
        membership: this.membership,
        mesh: this.mesh,
        dns: this.dns,
        elections: this.elections,
        http: this.http,
      });
      this.log.info('agent stopped');
    })();
    return this.stopping;
  }
}

/** Configuration fields a reload applies; the others need a restart. */
const RELOADABLE = ['logLevel', 'services', 'servicesDir', 'tags'] as const;

/** Stops whatever parts exist, in reverse start order; used on a failed start too. */
async function stopParts(parts: Parts): Promise<void> {
  await parts.http?.close();
  await parts.dns?.stop();
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
async function gossipKeys(config: AgentConfig, dataDir: DataDir, log: Logger): Promise<Uint8Array[]> {
  const saved = await dataDir.readKeyring();
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
