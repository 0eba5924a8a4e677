// Whole MembershipServices (engine, Serf layer, key manager, codec, encryption) on the in-memory
// gossip network, under one VirtualRuntime and one seed. Their data directories are real (the
// keyring and member snapshot files are asserted on), so virtual time waits for disk: between
// steps the driver lets promise jobs settle and any write in flight finish before the clock moves.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { DataDir } from '../data-dir/data-dir.ts';
import type { SnapshotMember, SnapshotRead } from '../data-dir/members-file.ts';
import type { Address } from '../membership/address.ts';
import { MembershipService } from '../membership/membership-service.ts';
import { MemoryGossipNetwork } from '../membership/memory-transport.ts';
import { type MembershipProfile, PROFILES } from '../membership/profiles.ts';
import { VirtualRuntime } from '../runtime/index.ts';

/** Virtual ms per step; promise jobs and disk writes settle between steps. */
const STEP_MS = 5;
/** Port every simulated node gossips on; each has its own host. */
const GOSSIP_PORT = 7946;

export interface MembershipClusterOptions {
  readonly seed: number;
  /** How many nodes (named n0, n1, ...), or their names; the first is everyone's join seed. */
  readonly nodes: number | readonly string[];
  /** Each node's tags, encoded (the agent's node meta). Default empty. */
  readonly meta?: (name: string) => Uint8Array;
  /** Timing profile of every node. Default `local`. */
  readonly profile?: MembershipProfile;
  /** Each node's gossip keys, primary first; empty for plaintext. */
  readonly keys?: readonly Uint8Array[];
  /** One node's keys, where they differ from `keys`. */
  readonly keysOf?: (index: number) => readonly Uint8Array[] | undefined;
  readonly latencyMs?: number;
  readonly loss?: number;
}

/**
 * A DataDir that counts its reads and writes in flight, so the driver can wait for the disk. A
 * read counts too: the start-up join reads the snapshot before it dials, and a clock that moved
 * during that read would make the dial's virtual time depend on the disk's speed.
 */
class TrackedDataDir extends DataDir {
  inFlight = 0;

  override readMembers(): Promise<SnapshotRead> {
    return this.track(super.readMembers());
  }

  override writeKeyring(keys: readonly Uint8Array[]): Promise<void> {
    return this.track(super.writeKeyring(keys));
  }

  override writeMembers(members: readonly SnapshotMember[]): Promise<boolean> {
    return this.track(super.writeMembers(members));
  }

  private track<T>(write: Promise<T>): Promise<T> {
    this.inFlight++;
    return write.finally(() => this.inFlight--);
  }
}

export interface ClusterNode {
  readonly name: string;
  readonly address: Address;
  readonly dataDir: DataDir;
  readonly service: MembershipService;
  /** How many gossip keys the node held after each key change a query made. */
  readonly keyChanges: number[];
}

export class MembershipCluster {
  readonly runtime: VirtualRuntime;
  readonly network: MemoryGossipNetwork;
  readonly nodes: ClusterNode[] = [];
  private readonly dirs: TrackedDataDir[] = [];
  private readonly meta: (name: string) => Uint8Array;
  private readonly profile: MembershipProfile;
  /** The keys each node was first started with. */
  private readonly startKeys = new Map<string, readonly Uint8Array[]>();

  private constructor(seed: number, opts: MembershipClusterOptions) {
    this.meta = opts.meta ?? (() => new Uint8Array());
    this.profile = opts.profile ?? PROFILES.local;
    this.runtime = new VirtualRuntime(seed);
    this.network = new MemoryGossipNetwork({
      runtime: this.runtime.fork(),
      latencyMs: opts.latencyMs ?? 1,
      loss: opts.loss ?? 0,
    });
  }

  /** Starts the services and joins each to the first. */
  static async start(opts: MembershipClusterOptions): Promise<MembershipCluster> {
    const cluster = new MembershipCluster(opts.seed, opts);
    const names = typeof opts.nodes === 'number' ? Array.from({ length: opts.nodes }, (_, i) => `n${i}`) : opts.nodes;
    try {
      for (const [i, name] of names.entries()) await cluster.add(name, opts.keysOf?.(i) ?? opts.keys ?? []);
      const seed = cluster.nodes[0]!.address;
      await Promise.all(cluster.nodes.slice(1).map((n) => cluster.until(n.service.join([seed]), 10_000)));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Starts one more service, not joined to anyone yet. */
  async add(name: string, keys: readonly Uint8Array[]): Promise<ClusterNode> {
    const dataDir = new TrackedDataDir(await mkdtemp(join(tmpdir(), 'vigil-msim-')));
    this.dirs.push(dataDir);
    this.startKeys.set(name, keys);
    const bind = { host: `10.0.0.${this.nodes.length + 1}`, port: GOSSIP_PORT };
    const node = await this.open(name, bind, dataDir, keys);
    this.nodes.push(node);
    return node;
  }

  /**
   * Starts a stopped (crashed) node again: same name, address and data directory, with the
   * keyring it persisted, as the agent starts. It has not joined yet: startupJoin([]) rejoins
   * through the snapshot.
   */
  async restart(name: string): Promise<ClusterNode> {
    const i = this.nodes.findIndex((n) => n.name === name);
    const old = this.nodes[i];
    if (!old) throw new Error(`no node ${name}`);
    await old.service.stop();
    const dataDir = old.dataDir as TrackedDataDir;
    const keys = (await dataDir.readKeyring()) ?? this.startKeys.get(name) ?? [];
    const node = await this.open(name, old.address, dataDir, keys);
    this.nodes[i] = node;
    return node;
  }

  private async open(
    name: string,
    bind: Address,
    dataDir: TrackedDataDir,
    keys: readonly Uint8Array[],
  ): Promise<ClusterNode> {
    const keyChanges: number[] = [];
    const service = await MembershipService.start({
      name,
      bind,
      meta: this.meta(name),
      profile: this.profile,
      keys,
      dataDir,
      log: quietLog().child({ node: name }),
      runtime: this.runtime.fork(),
      transport: this.network.bind,
      onKeysChanged: (now) => keyChanges.push(now.length),
    });
    return { name, address: service.address(), dataDir, service, keyChanges };
  }

  node(name: string): ClusterNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** Moves virtual time on by `ms`, letting promise jobs and disk writes settle at each step. */
  async run(ms: number): Promise<void> {
    const end = this.runtime.worldNow + ms;
    while (this.runtime.worldNow < end) {
      await this.settle();
      this.runtime.advance(Math.min(STEP_MS, end - this.runtime.worldNow));
    }
    await this.settle();
  }

  /** Runs until `done()` holds or `limitMs` of virtual time pass; returns whether it held. */
  async runUntil(done: () => boolean, limitMs: number): Promise<boolean> {
    const end = this.runtime.worldNow + limitMs;
    for (;;) {
      await this.settle();
      if (done()) return true;
      if (this.runtime.worldNow >= end) return false;
      this.runtime.advance(Math.min(STEP_MS, end - this.runtime.worldNow));
    }
  }

  /** Runs until `p` settles; rejects when `limitMs` of virtual time pass first. */
  async until<T>(p: Promise<T>, limitMs: number): Promise<T> {
    let settled = false;
    const watched = p.finally(() => {
      settled = true;
    });
    watched.catch(() => {});
    if (!(await this.runUntil(() => settled, limitMs))) {
      throw new Error(`not settled within ${limitMs} virtual ms`);
    }
    return watched;
  }

  async stop(): Promise<void> {
    // stop() waits for the last snapshot and keyring writes; those are real I/O, no timers.
    await Promise.all(this.nodes.map((n) => n.service.stop()));
    await Promise.all(this.dirs.map((d) => rm(d.path, { recursive: true, force: true })));
  }

  /** Promise jobs first, then (real time) until no node has a write in flight. */
  private async settle(): Promise<void> {
    await new Promise((r) => setImmediate(r));
    while (this.dirs.some((d) => d.inFlight > 0)) {
      await new Promise((r) => setTimeout(r, 1));
      await new Promise((r) => setImmediate(r));
    }
  }
}

function quietLog() {
  // VIGIL_SIM_LOG=1 shows the services' debug logs on stderr.
  return process.env.VIGIL_SIM_LOG ? pino({ level: 'debug' }, pino.destination(2)) : pino({ level: 'silent' });
}
