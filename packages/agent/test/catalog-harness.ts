// Shared set-up for the catalog tests: real libp2p nodes in this process on 127.0.0.1 (Cluster),
// or the same nodes on the in-memory transport and virtual time (VirtualCluster).

import { Writable } from 'node:stream';
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import type { PrivateKey, ServiceMap } from '@libp2p/interface';
import { noise } from '@libp2p/noise';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { preSharedKey } from '@libp2p/pnet';
import { tcp } from '@libp2p/tcp';
import { yamux } from '@libp2p/yamux';
import type { InstanceHealth, NodeRecord } from '@vigil/protocol';
import { createLibp2p, type ServiceFactoryMap } from 'libp2p';
import pino from 'pino';
import {
  type CatalogCoreOptions,
  CatalogNode,
  type CatalogNodeOptions,
  type CatalogPeer,
} from '../src/catalog/index.ts';
import { MemoryCatalogNetwork } from '../src/catalog/memory-transport.ts';
import { swarmKeyFromGossipKey } from '../src/catalog/pnet-key.ts';
import { VirtualRuntime } from '../src/runtime/index.ts';
import { mulberry32 } from '../src/sim/random.ts';

export const silentLog = pino({ level: 'silent' });

/** A logger that keeps every line it writes, parsed. */
export function capturingLog(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

export function gossipKey(fill: number): Uint8Array {
  return new Uint8Array(32).fill(fill);
}

/**
 * A bare libp2p peer in the private network of `gossipKey`, with whatever `services` the test
 * gives it (none: it speaks only the bytes a test sends). It uses @libp2p/pnet with the swarm-key
 * form of the derived key, so every connection it makes also checks that the agent's own pnet
 * implementation (pnet-protector.ts) is wire-compatible. The caller stops it.
 */
export async function rawLibp2p<T extends ServiceMap = ServiceMap>(key: Uint8Array, services?: ServiceFactoryMap<T>) {
  const privateKey = await generateKeyPair('Ed25519');
  const node = await createLibp2p<T>({
    privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionProtector: preSharedKey({ psk: swarmKeyFromGossipKey(key) }),
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false },
    ...(services === undefined ? {} : { services }),
  });
  return { node, key: privateKey, peerId: peerIdFromPrivateKey(privateKey).toString() };
}

export function record(
  node: string,
  peerId: string,
  version: { epoch: number; seq: number },
  health: InstanceHealth = 'passing',
): NodeRecord {
  return {
    node,
    peerId,
    epoch: version.epoch,
    seq: version.seq,
    instances: [
      {
        id: `web-${node}`,
        service: 'web',
        address: '127.0.0.1',
        port: 8080,
        tags: ['v1'],
        meta: { owner: 'tests' },
        weight: 1,
        priority: 0,
        zone: 'z1',
        policy: 'active-passive',
        health,
        maintenance: false,
      },
    ],
  };
}

export interface TestNode {
  readonly name: string;
  readonly key: PrivateKey;
  readonly catalog: CatalogNode;
  peer(): CatalogPeer;
}

/**
 * A directory of name -> peer id shared by the tests' nodes: stands in for the membership view.
 * Tests mutate it to model what membership believes.
 */
export class Cluster {
  readonly directory = new Map<string, string>();
  readonly nodes: TestNode[] = [];

  async add(
    name: string,
    opts: Partial<CatalogNodeOptions> & { key?: PrivateKey; register?: boolean } = {},
  ): Promise<TestNode> {
    const key = opts.key ?? (await generateKeyPair('Ed25519'));
    const peerId = peerIdFromPrivateKey(key).toString();
    if (opts.register !== false) this.directory.set(name, peerId);
    const catalog = await CatalogNode.start({
      node: name,
      privateKey: key,
      listen: { host: '127.0.0.1', port: 0 },
      // VIGIL_TEST_CATALOG_LOG=1 shows the catalog's debug log on stderr
      log: process.env.VIGIL_TEST_CATALOG_LOG ? pino({ level: 'debug' }, pino.destination(2)) : silentLog,
      peerIdOf: (node) => this.directory.get(node),
      redialIntervalMs: 200,
      dialTimeoutMs: 2_000,
      ...opts,
    });
    const node: TestNode = {
      name,
      key,
      catalog,
      peer: () => ({ node: name, peerId, multiaddr: `127.0.0.1:${catalog.listenPort()}` }),
    };
    this.nodes.push(node);
    return node;
  }

  /** Every node allows (and dials) every other node in `members` (default: all). */
  connect(members: readonly TestNode[] = this.nodes): void {
    const peers = members.map((n) => n.peer());
    for (const n of members) n.catalog.setPeers(peers);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.catalog.stop()));
    this.nodes.length = 0;
  }
}

/** True when every node in `nodes` sees each other node in it connected. */
export function fullyConnected(nodes: readonly TestNode[]): boolean {
  return nodes.every((n) => {
    const connected = new Set(n.catalog.connectedPeers());
    return nodes.every((m) => m === n || connected.has(m.peer().peerId));
  });
}

/**
 * The same cluster on the in-memory transport and virtual time: what the catalog decides (dials,
 * hang-ups, acceptance, anti-entropy) without sockets, so waiting for something NOT to happen
 * costs virtual seconds, and every run replays from its seed.
 */
export class VirtualCluster {
  readonly runtime: VirtualRuntime;
  readonly network: MemoryCatalogNetwork;
  readonly directory = new Map<string, string>();
  readonly nodes: TestNode[] = [];
  private readonly draw: () => number;
  private added = 0;

  constructor(seed = 1) {
    this.runtime = new VirtualRuntime(seed);
    this.network = new MemoryCatalogNetwork({ runtime: this.runtime, latencyMs: 1 });
    this.draw = mulberry32(seed);
  }

  async add(
    name: string,
    opts: Partial<CatalogCoreOptions> & {
      key?: PrivateKey;
      register?: boolean;
      gossipKeys?: readonly Uint8Array[] | undefined;
    } = {},
  ): Promise<TestNode> {
    const key =
      opts.key ??
      (await generateKeyPairFromSeed(
        'Ed25519',
        Uint8Array.from({ length: 32 }, () => Math.floor(this.draw() * 256)),
      ));
    const peerId = peerIdFromPrivateKey(key).toString();
    if (opts.register !== false) this.directory.set(name, peerId);
    const address = `mem:${name}/${++this.added}`;
    const catalog = await CatalogNode.over(
      {
        node: name,
        privateKey: key,
        log: process.env.VIGIL_TEST_CATALOG_LOG ? pino({ level: 'debug' }, pino.destination(2)) : silentLog,
        peerIdOf: (node) => this.directory.get(node),
        redialIntervalMs: 200,
        dialTimeoutMs: 2_000,
        runtime: this.runtime.fork(),
        ...opts,
      },
      this.network.transport({ peerId, address, gossipKeys: opts.gossipKeys }),
    );
    const node: TestNode = { name, key, catalog, peer: () => ({ node: name, peerId, multiaddr: address }) };
    this.nodes.push(node);
    return node;
  }

  connect(members: readonly TestNode[] = this.nodes): void {
    const peers = members.map((n) => n.peer());
    for (const n of members) n.catalog.setPeers(peers);
  }

  /** Advances virtual time, letting promise work (signatures, the sync protocol) settle. */
  async run(ms: number): Promise<void> {
    for (let left = ms; left > 0; left -= 10) {
      this.runtime.advance(Math.min(10, left));
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Runs until `done()` holds; fails naming `what` after `limitMs` of virtual time. */
  async until(done: () => boolean, what: string, limitMs = 60_000): Promise<number> {
    const start = this.runtime.worldNow;
    while (!done()) {
      if (this.runtime.worldNow - start >= limitMs) throw new Error(`not within ${limitMs} virtual ms: ${what}`);
      await this.run(10);
    }
    return this.runtime.worldNow - start;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.catalog.stop()));
    this.nodes.length = 0;
  }
}

/**
 * Signs a record's JSON as an author would, without the codec's checks: what a hostile or
 * differently-ruled agent can put on the wire (same envelope layout as record-codec.ts).
 */
export async function signUnchecked(value: unknown, key: PrivateKey): Promise<Uint8Array> {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  const domain = new TextEncoder().encode('vigil/catalog/record/1\n');
  const signature = await key.sign(Uint8Array.from([...domain, ...bytes]));
  return Uint8Array.from([1, ...signature, ...bytes]);
}
