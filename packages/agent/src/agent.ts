import { isDeepStrictEqual } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { mountApi } from './agent-api.ts';
import {
  applyConfiguredServices,
  configuredServices,
  openDataDir,
  openRegistry,
  p2pAddressOf,
  startCatalog,
  startDns,
  startElections,
  startMembership,
  startMesh,
} from './agent-planes.ts';
import type { CatalogNode } from './catalog/index.ts';
import { formatHostPort } from './config/host-port.ts';
import { redactConfig } from './config/load.ts';
import type { AgentConfig } from './config/schema.ts';
import type { NodeIdentity } from './data-dir/identity.ts';
import type { DataDirLock } from './data-dir/lock.ts';
import type { DnsServer } from './dns/index.ts';
import type { Elections } from './election/elections.ts';
import { ChangeFeed } from './events/change-feed.ts';
import { createHttpServer } from './http/server.ts';
import type { Logger } from './log.ts';
import type { LogTap } from './log-tap.ts';
import { type MembershipService, memberInfo } from './membership/membership-service.ts';
import { nodeMeta } from './membership/node-meta.ts';
import type { Mesh } from './mesh/mesh.ts';
import type { ServiceRegistry } from './services/registry.ts';
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

  /**
   * Starts the planes in order (data directory, services, catalog, membership, mesh and routing,
   * DNS, elections), mounts the API and listens, then begins checks and the startup join. A
   * failed step stops what had started, in reverse. `logTap`: the log's second destination,
   * streamed by GET /v1/agent/monitor.
   */
  static async start(config: AgentConfig, log: Logger, logTap?: LogTap): Promise<Agent> {
    const parts: Parts = {};
    let joined = false;
    try {
      const ctx = await openDataDir(config, log, (lock) => {
        parts.lock = lock;
      });
      const registry = await openRegistry(ctx);
      parts.registry = registry;
      await applyConfiguredServices(config, registry);
      const catalog = await startCatalog(ctx, () => parts.membership);
      parts.catalog = catalog;
      const p2pAddress = p2pAddressOf(config, catalog);
      const membership = await startMembership(ctx, catalog, p2pAddress);
      parts.membership = membership;
      const feed = new ChangeFeed();
      membership.on('event', (e) => feed.publish('member', { change: e.type, member: memberInfo(e.member) }));
      const mesh = startMesh(ctx, { catalog, membership, registry, feed });
      parts.mesh = mesh;
      parts.dns = await startDns(ctx, { mesh, membership, feed });
      const elections = await startElections(ctx, { catalog, membership, registry, mesh, feed });
      parts.elections = elections;

      const http = createHttpServer(log, { allowedHosts: config.httpAllowedHosts });
      parts.http = http;
      const agent = new Agent(config, ctx.identity, log, parts as Required<Parts> & Parts);
      agent.p2pAddress = p2pAddress;
      mountApi(http, {
        config,
        identity: ctx.identity,
        registry,
        catalog,
        membership,
        mesh,
        dns: parts.dns,
        elections,
        feed,
        logTap,
        currentConfig: () => agent.config,
        joined: () => joined,
        requestShutdown: () => agent.requestShutdown(),
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
          peerId: ctx.identity.peerId.toString(),
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
    const registrations = configuredServices(next);
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
