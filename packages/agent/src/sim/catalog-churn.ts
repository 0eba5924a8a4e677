// Hosts that come and go under new names (autoscaling, containers), seen by one agent: a real
// CatalogNode and Mesh over the in-memory transport, on virtual time, with a scripted membership
// view in which each host joins, publishes its signed record, and is later reaped. The store must
// stay bounded by the hosts membership still knows, and a host arriving after thousands of others
// must still be taken (before the fix, the store answered `full` after maxNodes distinct names).
//
// Authors: `window` live hosts at a time. Signing keys are a pool of `window` slots reused by
// successive hosts (host i signs with slot i % window): membership maps each name to its slot's
// peer id, which is all the intake checks, and the observer's connection to a slot lives on
// across generations, so the run costs one signature and one verification per host, not a dial.

import { EventEmitter } from 'node:events';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { META_P2P_ADDR, META_PEER_ID, type NodeRecord } from '@vigil/protocol';
import pino from 'pino';
import { CatalogNode } from '../catalog/catalog-node.ts';
import type { CatalogTransport } from '../catalog/catalog-transport.ts';
import { MemoryCatalogNetwork } from '../catalog/memory-transport.ts';
import { signRecord } from '../catalog/record-codec.ts';
import { ChangeFeed } from '../events/change-feed.ts';
import type { MemberInfo } from '../membership/membership-service.ts';
import type { MembershipEvent } from '../membership/swim-engine.ts';
import { Mesh, type MeshMembership } from '../mesh/mesh.ts';
import { VirtualRuntime } from '../runtime/index.ts';
import { ScriptedServices, webService } from './node-sim.ts';
import { mulberry32 } from './random.ts';

export interface CatalogChurnOptions {
  readonly seed: number;
  /** Distinct host names over the run. */
  readonly hosts: number;
  /** Hosts membership knows at once (each is reaped when the window moves past it). */
  readonly window: number;
  /** The observer's store bound (CatalogCoreOptions.maxNodes). */
  readonly maxNodes?: number;
  /** Called every `every` hosts (a script prints heap figures from here). */
  readonly progress?: { every: number; report: (done: number, result: CatalogChurnResult) => void };
}

export interface CatalogChurnResult {
  /** Hosts whose record the observer took when it was published. */
  accepted: number;
  /** The largest store size seen after any host. */
  maxStore: number;
  storeNow: number;
  /** Whether the last host's record is held at the end. */
  lastHeld: boolean;
}

/** A membership view the harness scripts: join and reap, with the engine's events. */
class ScriptedMembership extends EventEmitter<{ event: [MembershipEvent] }> implements MeshMembership {
  private readonly byName = new Map<string, MemberInfo>();

  members(): MemberInfo[] {
    return [...this.byName.values()];
  }

  add(m: MemberInfo): void {
    this.byName.set(m.name, m);
    this.emit('event', { type: 'join', member: m } as unknown as MembershipEvent);
  }

  reap(name: string): void {
    const m = this.byName.get(name);
    if (m === undefined) return;
    this.byName.delete(name);
    this.emit('event', { type: 'reap', member: m } as unknown as MembershipEvent);
  }

  peerIdOf(node: string): string | undefined {
    return this.byName.get(node)?.tags[META_PEER_ID];
  }

  probeNow(): boolean {
    return false;
  }
}

interface Slot {
  readonly key: PrivateKey;
  readonly peerId: string;
  readonly address: string;
  readonly transport: CatalogTransport;
}

export async function runCatalogChurn(opts: CatalogChurnOptions): Promise<CatalogChurnResult> {
  const runtime = new VirtualRuntime(opts.seed);
  const network = new MemoryCatalogNetwork({ runtime, latencyMs: 1 });
  const log = pino({ level: 'silent' });
  const draw = mulberry32(opts.seed ^ 0xc4e2);
  const keyFromSeed = () =>
    generateKeyPairFromSeed(
      'Ed25519',
      Uint8Array.from({ length: 32 }, () => Math.floor(draw() * 256)),
    );

  const membership = new ScriptedMembership();
  const observerKey = await keyFromSeed();
  const catalog = await CatalogNode.over(
    {
      node: 'observer',
      privateKey: observerKey,
      log,
      runtime: runtime.fork(),
      peerIdOf: (node) => membership.peerIdOf(node),
      maxNodes: opts.maxNodes,
      settleMs: 0,
      // Anti-entropy would only re-offer what gossip delivered; the authors answer no streams.
      syncIntervalMs: 3_600_000,
    },
    network.transport({ peerId: peerIdFromPrivateKey(observerKey).toString(), address: 'mem:observer' }),
  );
  const mesh = new Mesh({
    node: 'observer',
    zone: 'z1',
    nodeAddress: '10.9.0.1',
    catalog,
    membership,
    registry: new ScriptedServices([webService('observer', 0)], () => runtime.clock.wallNow()),
    feed: new ChangeFeed(1, 64, runtime),
    log,
    failbackHoldDownMs: 0,
    panicThreshold: 0,
    runtime: runtime.fork(),
  });
  mesh.markJoined();

  const slots: Slot[] = [];
  for (let s = 0; s < opts.window; s++) {
    const key = await keyFromSeed();
    const peerId = peerIdFromPrivateKey(key).toString();
    const address = `mem:slot-${s}`;
    const transport = await network.transport({ peerId, address })({
      isAllowed: () => true,
      onGossip: async () => 'ignore',
      onConnect: () => {},
      onDisconnect: () => {},
      onSubscribed: () => {},
      onSyncStream: (stream) => stream.abort(new Error('an author answers no sync')),
    });
    slots.push({ key, peerId, address, transport });
  }

  const result: CatalogChurnResult = { accepted: 0, maxStore: 0, storeNow: 0, lastHeld: false };
  const step = async (ms: number) => {
    for (let left = ms; left > 0; left -= 1) {
      runtime.advance(1);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };
  try {
    for (let i = 0; i < opts.hosts; i++) {
      const slot = slots[i % opts.window]!;
      const name = `host-${i}`;
      if (i >= opts.window) membership.reap(`host-${i - opts.window}`);
      membership.add({
        name,
        addr: '10.0.0.1',
        port: 7946,
        status: 'alive',
        incarnation: 1,
        tags: { [META_PEER_ID]: slot.peerId, [META_P2P_ADDR]: slot.address },
        confirmedSuspect: false,
      });
      await step(1); // the mesh's member sync: peers set, reaped records forgotten
      // The first host of each slot waits for the observer's dial; later ones reuse the connection.
      for (let wait = 0; !catalog.connectedPeers().includes(slot.peerId); wait++) {
        if (wait > 10_000) throw new Error(`the observer never connected to ${slot.address}`);
        await step(1);
      }
      const record: NodeRecord = {
        node: name,
        peerId: slot.peerId,
        epoch: 1,
        seq: 1,
        instances: [
          {
            id: `web-${name}`,
            service: 'web',
            address: '10.0.0.2',
            port: 8080,
            tags: [],
            meta: {},
            weight: 1,
            priority: 1,
            zone: 'z1',
            policy: 'active-passive',
            health: 'passing',
            maintenance: false,
          },
        ],
      };
      await slot.transport.publish('records', (await signRecord(record, slot.key)).envelope);
      await step(3); // delivery (1 ms) and the intake's verification
      if (catalog.get(name) !== undefined) result.accepted++;
      result.storeNow = catalog.stats().records;
      result.maxStore = Math.max(result.maxStore, result.storeNow);
      if (opts.progress && (i + 1) % opts.progress.every === 0) opts.progress.report(i + 1, result);
    }
    result.lastHeld = catalog.get(`host-${opts.hosts - 1}`) !== undefined;
    return result;
  } finally {
    await mesh.stop();
    await catalog.stop();
    for (const s of slots) await s.transport.stop();
  }
}
