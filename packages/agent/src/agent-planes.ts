import { CatalogNode } from './catalog/index.ts';
import { formatHostPort, isLoopbackHost } from './config/host-port.ts';
import type { AgentConfig } from './config/schema.ts';
import { DataDir } from './data-dir/data-dir.ts';
import type { NodeIdentity } from './data-dir/identity.ts';
import type { DataDirLock } from './data-dir/lock.ts';
import { DnsServer, dnsSnapshotSource, tableLeader } from './dns/index.ts';
import { Elections } from './election/elections.ts';
import { DEFAULT_ELECTION_TIMING } from './election/timing.ts';
import type { ChangeFeed } from './events/change-feed.ts';
import type { Logger } from './log.ts';
import { loopContention } from './membership/loop-contention.ts';
import { advertiseHost, MembershipService } from './membership/membership-service.ts';
import { nodeMeta } from './membership/node-meta.ts';
import { PROFILES } from './membership/profiles.ts';
import { recordOverflow } from './mesh/local-record.ts';
import { Mesh, peerIdFromMembership } from './mesh/mesh.ts';
import { realRuntime } from './runtime/index.ts';
import { mergeConfiguredServices, readServicesDir } from './services/config-services.ts';
import { ServiceRegistry } from './services/registry.ts';

// Agent.start's steps, one per plane, in start order. Each returns its plane; Agent.start records
// it in its Parts at once, so a later step's failure stops exactly what had started.

/** What every step after the data directory reads. */
export interface StartContext {
  readonly config: AgentConfig;
  readonly log: Logger;
  readonly dataDir: DataDir;
  readonly identity: NodeIdentity;
  readonly keys: Uint8Array[];
}

/** The data directory: locked first (one agent per directory), then identity and gossip keys. */
export async function openDataDir(
  config: AgentConfig,
  log: Logger,
  locked: (lock: DataDirLock) => void,
): Promise<StartContext> {
  const dataDir = new DataDir(config.dataDir);
  locked(dataDir.lock());
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
  return { config, log, dataDir, identity, keys };
}

/** This host's services and checks as the data directory holds them; not yet checking. */
export async function openRegistry({ config, log, dataDir, identity }: StartContext): Promise<ServiceRegistry> {
  return ServiceRegistry.open({
    dataDir,
    node: config.node,
    zone: config.zone,
    log,
    enableExecChecks: config.enableExecChecks,
    admit: (services) => recordOverflow(config.node, identity.peerId.toString(), services),
  });
}

/** The services and checks the configuration and services_dir declare; throws naming a bad one. */
export function configuredServices(config: AgentConfig): ReturnType<typeof mergeConfiguredServices> {
  const fromDir = config.servicesDir === undefined ? [] : readServicesDir(config.servicesDir);
  return mergeConfiguredServices(config.services, fromDir);
}

export async function applyConfiguredServices(config: AgentConfig, registry: ServiceRegistry): Promise<void> {
  await registry.applyConfig(configuredServices(config));
}

/**
 * The catalog (libp2p). It listens before membership starts, so the address peers dial can go
 * into our membership metadata; it finds peers through `membership()` once that exists.
 */
export async function startCatalog(
  { config, log, identity, keys }: StartContext,
  membership: () => MembershipService | undefined,
): Promise<CatalogNode> {
  return CatalogNode.start({
    node: config.node,
    privateKey: identity.privateKey,
    listen: config.p2p,
    gossipKeys: keys,
    peerIdOf: (node) => {
      const m = membership();
      return m ? peerIdFromMembership(m, node) : undefined;
    },
    loopContention: loopContention(),
    log,
  }).catch((err: Error) => {
    const inUse = /EADDRINUSE/.test(err.message);
    throw new Error(
      inUse
        ? `cannot listen on --p2p ${formatHostPort(config.p2p)}: the port is in use (another agent? choose another --p2p)`
        : `cannot start the catalog on --p2p ${formatHostPort(config.p2p)}: ${err.message.split('\n')[0]}`,
    );
  });
}

/** The address our metadata announces for the catalog: a wildcard listen becomes the advertised host. */
export function p2pAddressOf(config: AgentConfig, catalog: CatalogNode): string {
  const host = config.p2p.host === '0.0.0.0' || config.p2p.host === '::' ? hostAddressOf(config) : config.p2p.host;
  return formatHostPort({ host, port: catalog.listenPort() });
}

/** The host peers reach us on: --advertise, else the bind address (a wildcard resolved). */
export function hostAddressOf(config: AgentConfig): string {
  return config.advertise?.host ?? advertiseHost(config.bind.host);
}

/** Membership (SWIM, Serf's layer): bound and answering, not yet joined (see startupJoin). */
export async function startMembership(
  { config, log, dataDir, identity, keys }: StartContext,
  catalog: CatalogNode,
  p2pAddress: string,
): Promise<MembershipService> {
  return MembershipService.start({
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
}

/** Mesh and routing: the tables built from catalog, membership and the local registry. */
export function startMesh(
  { config, log }: StartContext,
  planes: { catalog: CatalogNode; membership: MembershipService; registry: ServiceRegistry; feed: ChangeFeed },
): Mesh {
  const { membership } = planes;
  return new Mesh({
    node: config.node,
    zone: config.zone,
    nodeAddress: membership.member(config.node)?.addr.host ?? hostAddressOf(config),
    ...planes,
    log,
    failbackHoldDownMs: config.failbackHoldDown,
    panicThreshold: config.panicThreshold,
    outlier: { windowMs: config.outlierWindow, baseEjectionMs: config.outlierBaseEjection },
  });
}

/** The DNS interface; undefined when the configuration turns it off. */
export async function startDns(
  { config, log }: StartContext,
  planes: { mesh: Mesh; membership: MembershipService; feed: ChangeFeed },
): Promise<DnsServer | undefined> {
  if (config.dns === null) return undefined;
  const { mesh, membership, feed } = planes;
  return DnsServer.start({
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

/** Leader elections, on top of catalog, membership, registry and mesh. */
export async function startElections(
  { config, log }: StartContext,
  planes: {
    catalog: CatalogNode;
    membership: MembershipService;
    registry: ServiceRegistry;
    mesh: Mesh;
    feed: ChangeFeed;
  },
): Promise<Elections> {
  return Elections.start({
    node: config.node,
    dataDir: config.dataDir,
    runtime: realRuntime(),
    timing: DEFAULT_ELECTION_TIMING,
    ...planes,
    log,
    enableExecChecks: config.enableExecChecks,
  });
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
