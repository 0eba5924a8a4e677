// Whole nodes under one virtual clock and one seed: membership (real MembershipServices, with the
// Serf layer, key manager and encryption, over the in-memory gossip network of
// sim/membership-cluster.ts), the catalog (real CatalogNode: dial plan, record intake, signatures,
// the sync protocol) over the in-memory catalog transport, and the Mesh that joins them into
// routing tables; with `elections` set, also the election plane (real Elections: groups, Raft,
// voters, bootstrap, leader claims in the records) over the catalog's lent streams, with a hook
// runner that records OnPromote/OnDemote instead of spawning them. A run replays exactly from its seed: keys are derived from it, and every timer
// and random draw of every plane goes through forks of the cluster's one VirtualRuntime.
//
// The clock moves STEP_MS at a time; between steps the promise jobs of every plane (signing,
// verifying, the sync protocol's async pipes, Serf queries) settle, and so do membership's disk
// writes (the cluster waits for them before the clock moves).

import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { encodeNodeMeta, type InstanceHealth, META_P2P_ADDR, META_PEER_ID, META_ZONE } from '@vigil/protocol';
import pino from 'pino';
import { compareStrings } from '../base/compare.ts';
import { type CatalogCoreOptions, CatalogNode } from '../catalog/catalog-node.ts';
import { MemoryCatalogNetwork } from '../catalog/memory-transport.ts';
import { type ElectionRegistry, Elections } from '../election/elections.ts';
import type { HookKind, HookRunner } from '../election/hooks.ts';
import { DEFAULT_ELECTION_TIMING, type ElectionTiming } from '../election/timing.ts';
import { ChangeFeed } from '../events/change-feed.ts';
import type { Logger } from '../log.ts';
import type { MembershipService } from '../membership/membership-service.ts';
import { type MembershipProfile, PROFILES } from '../membership/profiles.ts';
import type { LocalService } from '../mesh/local-record.ts';
import { Mesh, type MeshServices, peerIdFromMembership } from '../mesh/mesh.ts';
import type { OutlierOptions } from '../outlier/index.ts';
import type { RoutingTable } from '../routing/index.ts';
import type { VirtualRuntime } from '../runtime/index.ts';
import { MembershipCluster } from './membership-cluster.ts';
import { mulberry32 } from './random.ts';

/** Virtual ms per step of runUntil's check. */
const STEP_MS = 10;
/** Virtual time the services get to join into one cluster before the catalog and mesh start. */
const JOIN_LIMIT_MS = 30_000;

export interface NodeSimOptions {
  readonly seed: number;
  /** Node names; each runs one service instance `web` (see services). */
  readonly nodes: readonly string[];
  /** Each node's services; default one `web` instance, tier = index (n0 primary, the rest backups). */
  readonly services?: (name: string, index: number) => readonly LocalService[];
  readonly zone?: string;
  /** Membership settings: timing profile (default lan), gossip network latency and loss. */
  readonly membership?: { readonly profile?: MembershipProfile; readonly latencyMs?: number; readonly loss?: number };
  /** Every node's gossip keys, primary first (default none: plaintext). */
  readonly gossipKeys?: readonly Uint8Array[];
  /** Catalog settings (intervals, degree). */
  readonly catalog?: Omit<Partial<CatalogCoreOptions>, 'node' | 'privateKey' | 'log' | 'runtime' | 'peerIdOf'>;
  /** One-way latency of the catalog's network. Default 1 ms. */
  readonly catalogLatencyMs?: number;
  readonly failbackHoldDownMs?: number;
  /** Routing's panic threshold (default 0: off). */
  readonly panicThreshold?: number;
  /** Collective outlier detection settings. */
  readonly outlier?: Partial<OutlierOptions>;
  /** Runs the election plane on every node (a group per service with policy `leader`). */
  readonly elections?: { readonly timing?: Partial<ElectionTiming> };
  /** How a test names itself in the replay command (`-t`), and its file. */
  readonly testName?: string;
  readonly testFile?: string;
}

export interface SimAgent {
  readonly name: string;
  readonly peerId: string;
  readonly membership: MembershipService;
  readonly catalog: CatalogNode;
  readonly mesh: Mesh;
  readonly services: ScriptedServices;
  readonly feed: ChangeFeed;
  /** The election plane, when the sim runs it. */
  readonly elections: Elections | undefined;
  crashed: boolean;
}

/** One OnPromote/OnDemote the stand-in hook runner saw (a crashed node runs none). */
export interface SimHookRun {
  readonly node: string;
  readonly kind: HookKind;
  readonly service: string;
  readonly token: number;
  readonly term: number;
  /** Virtual world time of the call. */
  readonly at: number;
}

/**
 * This host's services as a test scripts them: the registry has its own tests, and here only its
 * output matters (a health change becomes a new catalog record).
 */
export class ScriptedServices implements MeshServices {
  private services: LocalService[];
  private readonly listeners = new Set<() => void>();
  private readonly wallNow: () => number;

  /** `wallNow` stamps recoveries (the registry's recoveredAt), from the node's runtime. */
  constructor(services: readonly LocalService[], wallNow: () => number) {
    this.services = [...services];
    this.wallNow = wallNow;
  }

  listServices(): readonly LocalService[] {
    return this.services;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** As the registry does: a return to passing or warning from critical is a recovery. */
  setHealth(id: string, health: InstanceHealth): void {
    const usable = (h: string) => h === 'passing' || h === 'warning';
    this.services = this.services.map((s) => {
      if (s.service.id !== id) return s;
      const recovered = usable(health) && !usable(s.health);
      return { ...s, health, ...(recovered ? { recoveredAt: this.wallNow() } : {}) };
    });
    for (const l of this.listeners) l();
  }
}

export function webService(name: string, tier: number, zone = 'z1'): LocalService {
  return {
    service: {
      id: `web-${name}`,
      name: 'web',
      address: `10.0.0.${tier + 1}`,
      port: 8080,
      tags: [],
      meta: {},
      weights: { passing: 1, warning: 1 },
      priority: tier,
      zone,
    },
    health: 'passing',
  };
}

/** A service with policy `leader` (an election group named `name`), with both hooks. */
export function leaderService(service: string, node: string, tier: number, zone = 'z1'): LocalService {
  const hook = (what: string) => ({ args: [`/usr/local/bin/${service}-${what}`], timeoutMs: 1_000 });
  const web = webService(node, tier, zone).service;
  return {
    service: {
      ...web,
      id: `${service}-${node}`,
      name: service,
      policy: 'leader',
      election: { voters: 3, onPromote: hook('promote'), onDemote: hook('demote') },
    },
    health: 'passing',
  };
}

export class NodeSim {
  readonly seed: number;
  readonly runtime: VirtualRuntime;
  /** Every node's MembershipService, on the in-memory gossip network. */
  readonly membership: MembershipCluster;
  readonly network: MemoryCatalogNetwork;
  readonly agents = new Map<string, SimAgent>();
  /** Every hook run of every node, in order. */
  readonly hookRuns: SimHookRun[] = [];
  private readonly opts: NodeSimOptions;

  private readonly keys: ReadonlyMap<string, PrivateKey>;
  private readonly log = quietLog();

  private constructor(opts: NodeSimOptions, membership: MembershipCluster, keys: ReadonlyMap<string, PrivateKey>) {
    this.opts = opts;
    this.keys = keys;
    this.seed = opts.seed;
    this.membership = membership;
    this.runtime = membership.runtime;
    this.network = new MemoryCatalogNetwork({ runtime: this.runtime, latencyMs: opts.catalogLatencyMs });
  }

  /** Starts every node, joins them into one cluster, then starts the catalogs and meshes. */
  static async start(opts: NodeSimOptions): Promise<NodeSim> {
    // Keys from the seed: peer ids decide dial ranks and tie-breaks, so they must replay too.
    const draw = mulberry32(opts.seed ^ 0x5eed);
    const keys = new Map<string, PrivateKey>();
    for (const name of opts.nodes) {
      const seed = Uint8Array.from({ length: 32 }, () => Math.floor(draw() * 256));
      keys.set(name, await generateKeyPairFromSeed('Ed25519', seed));
    }
    const zone = opts.zone ?? 'z1';
    const cluster = await MembershipCluster.start({
      seed: opts.seed,
      nodes: opts.nodes,
      keys: opts.gossipKeys ?? [],
      profile: opts.membership?.profile ?? PROFILES.lan,
      latencyMs: opts.membership?.latencyMs,
      loss: opts.membership?.loss,
      meta: (name) =>
        encodeNodeMeta({
          [META_ZONE]: zone,
          [META_PEER_ID]: peerIdFromPrivateKey(keys.get(name)!).toString(),
          [META_P2P_ADDR]: `mem:${name}`,
        }),
    });
    const sim = new NodeSim(opts, cluster, keys);
    const joined = () =>
      cluster.nodes.every((n) => n.service.members().filter((m) => m.status === 'alive').length === opts.nodes.length);
    if (!(await cluster.runUntil(joined, JOIN_LIMIT_MS))) {
      await cluster.stop();
      throw new Error(`seed ${opts.seed}: membership did not converge in ${JOIN_LIMIT_MS} virtual ms`);
    }
    for (const name of opts.nodes) await sim.boot(name);
    return sim;
  }

  /** Starts `name`'s catalog and mesh over its (joined) membership service. */
  private async boot(name: string): Promise<void> {
    const opts = this.opts;
    const index = opts.nodes.indexOf(name);
    const zone = opts.zone ?? 'z1';
    const runtime = this.runtime.fork();
    const privateKey = this.keys.get(name)!;
    const peerId = peerIdFromPrivateKey(privateKey).toString();
    const membership = this.membership.node(name).service;
    const catalog = await CatalogNode.over(
      {
        ...opts.catalog,
        node: name,
        privateKey,
        log: this.log,
        runtime,
        peerIdOf: (node) => peerIdFromMembership(membership, node),
      },
      this.network.transport({ peerId, address: `mem:${name}` }),
    );
    const services = new ScriptedServices(opts.services?.(name, index) ?? [webService(name, index, zone)], () =>
      runtime.clock.wallNow(),
    );
    const feed = new ChangeFeed(1, 4096, runtime);
    const mesh = new Mesh({
      node: name,
      zone,
      nodeAddress: `10.1.0.${index + 1}`,
      catalog,
      membership,
      registry: services,
      feed,
      log: this.log,
      failbackHoldDownMs: opts.failbackHoldDownMs ?? 0,
      panicThreshold: opts.panicThreshold ?? 0,
      outlier: opts.outlier,
      runtime,
    });
    mesh.markJoined();
    const elections = opts.elections
      ? await Elections.start({
          node: name,
          dataDir: this.membership.node(name).dataDir.path,
          runtime,
          timing: { ...DEFAULT_ELECTION_TIMING, ...opts.elections.timing },
          catalog,
          membership,
          registry: asRegistry(services),
          mesh,
          feed,
          log: this.log,
          enableExecChecks: false,
          runHook: this.hookRunner(name),
        })
      : undefined;
    this.agents.set(name, { name, peerId, membership, catalog, mesh, services, feed, elections, crashed: false });
  }

  /** Stands in for the hook processes: records the call and succeeds at once. */
  private hookRunner(name: string): HookRunner {
    return async (kind, _hook, env, _budget, runtime) => {
      if (this.agents.get(name)?.crashed !== true) {
        const { service, token, term } = env;
        this.hookRuns.push({ node: name, kind, service, token, term, at: this.runtime.worldNow });
      }
      const startedAt = runtime.clock.wallNow();
      return { kind, status: 'passing', output: '', startedAt, durationMs: 0, killed: false };
    };
  }

  /** Advances the clock by `ms`, letting promise work and disk writes settle between steps. */
  async run(ms: number): Promise<void> {
    await this.membership.run(ms);
  }

  /** Runs until `done()` holds (checked every step) or `limitMs` passes; returns the time taken. */
  async runUntil(done: () => boolean, limitMs: number): Promise<number | undefined> {
    const start = this.runtime.worldNow;
    while (!done()) {
      if (this.runtime.worldNow - start >= limitMs) return undefined;
      await this.run(STEP_MS);
    }
    return this.runtime.worldNow - start;
  }

  /** Runs until `p` settles; rejects when `limitMs` of virtual time pass first. */
  until<T>(p: Promise<T>, limitMs: number): Promise<T> {
    return this.membership.until(p, limitMs);
  }

  agent(name: string): SimAgent {
    const a = this.agents.get(name);
    if (!a) throw new Error(`no node ${name}`);
    return a;
  }

  /** `observer`'s routing table for `service` (default `web`). */
  table(observer: string, service = 'web'): RoutingTable | undefined {
    return this.agent(observer).mesh.table(service);
  }

  /** The nodes `observer` routes `web` traffic to (share > 0), sorted. */
  activeNodes(observer: string, service = 'web'): string[] {
    return (this.table(observer, service)?.endpoints ?? [])
      .filter((e) => e.share > 0)
      .map((e) => e.node)
      .sort(compareStrings);
  }

  /** The process dies: its gossip port goes quiet without a leave, its connections reset, its timers stop. */
  async crash(name: string): Promise<void> {
    const agent = this.agent(name);
    agent.crashed = true;
    await agent.membership.stop();
    await agent.mesh.stop();
    await agent.catalog.stop();
    // After the catalog: its connections are reset first, so the group's farewell (a step-down)
    // reaches nobody, and the hook runner ignores a crashed node.
    await agent.elections?.stop();
  }

  /**
   * A crashed node starts again with the same identity, address and data directory: membership
   * rejoins through its snapshot (the members it saw last) and its keyring, then the catalog and
   * mesh start, with the services the test scripted at the start.
   */
  async restart(name: string): Promise<void> {
    if (!this.agent(name).crashed) throw new Error(`${name} is running; crash it first`);
    const node = await this.membership.restart(name);
    const joined = await this.until(node.service.startupJoin([]), JOIN_LIMIT_MS);
    if (joined.joined === 0) throw new Error(`${name} could not rejoin: ${joined.errors.join('; ')}`);
    await this.boot(name);
  }

  /** Splits membership and catalog traffic alike into groups of node names. */
  partition(groups: readonly (readonly string[])[]): void {
    this.membership.network.partition(groups.map((g) => g.map((n) => this.membership.node(n).address)));
    this.network.partition(groups.map((g) => g.map((n) => this.agent(n).peerId)));
  }

  heal(): void {
    this.membership.network.heal();
    this.network.heal();
  }

  /** The one command that replays this run. */
  replayCommand(): string {
    return replayCommand(this.opts.testFile ?? 'test/node-sim.test.ts', this.opts.testName, this.seed);
  }

  async stop(): Promise<void> {
    for (const a of this.agents.values()) {
      if (a.crashed) continue;
      await a.elections?.stop();
      await a.mesh.stop();
      await a.catalog.stop();
    }
    // Stops every service (a crashed one already is) and removes the data directories.
    await this.membership.stop();
  }
}

/** The command that replays one seed of a simulator test (a file under packages/agent). */
export function replayCommand(file: string, testName: string | undefined, seed: number): string {
  const name = testName ? ` -t ${JSON.stringify(testName)}` : '';
  return `VIGIL_SIM_SEED=${seed} npx vitest run --root packages/agent ${file}${name}`;
}

/** The seeds a simulator test runs: VIGIL_SIM_SEED alone when set (a replay), else `defaults`. */
export function simSeeds(defaults: readonly number[]): readonly number[] {
  const fromEnv = process.env.VIGIL_SIM_SEED;
  return fromEnv ? [Number(fromEnv)] : defaults;
}

/** Runs `body` for each seed; a failure names its seed and the one command that replays it. */
export async function forEachSeed(
  seeds: readonly number[],
  replay: (seed: number) => string,
  body: (seed: number) => Promise<void>,
): Promise<void> {
  for (const seed of seeds) {
    try {
      await body(seed);
    } catch (err) {
      const e = err as Error;
      e.message = `seed ${seed}: ${e.message}\nreplay: ${replay(seed)}`;
      throw e;
    }
  }
}

/** The registry as the election plane reads it: every scripted service came from the config. */
function asRegistry(services: ScriptedServices): ElectionRegistry {
  return {
    listServices: () => services.listServices().map((v) => ({ service: v.service, source: 'config' as const })),
    subscribe: (listener) => services.subscribe(listener),
  };
}

function quietLog(): Logger {
  // VIGIL_SIM_LOG=1 shows the planes' debug logs on stderr.
  return process.env.VIGIL_SIM_LOG ? pino({ level: 'debug' }, pino.destination(2)) : pino({ level: 'silent' });
}
