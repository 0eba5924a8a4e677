// An in-memory CatalogTransport for the simulator: every node of a run in one process, messages
// delivered by the runtime's timers (virtual time), partitions and crashes on demand. It models
// what the catalog relies on and no more:
//   - a dial is a SYN: refused at once by a stopped node, a gate that says no or a key mismatch;
//     lost (the dial hangs until its deadline) across a partition;
//   - one connection per pair; a hang-up's FIN and a crash's RST reach the other side only if it
//     is reachable, so a partition leaves a half-open connection on the far side, as TCP does;
//   - gossip floods: every node forwards what its validator accepts to its other connections,
//     once per message id (gossipsub's mesh and flood publish, without the mesh's degree);
//   - anti-entropy streams carry the real sync protocol's bytes, in order, or nothing.
// Latency is one constant per network, so delivery order is FIFO per link.

import { createHash } from 'node:crypto';
import { Uint8ArrayList } from 'uint8arraylist';
import type { Runtime } from '../runtime/index.ts';
import type {
  CatalogTransport,
  CatalogTransportFactory,
  GossipTopic,
  StreamLimits,
  TransportAddress,
  TransportHandlers,
} from './catalog-transport.ts';
import type { SyncStream } from './sync-protocol.ts';

/** A gossip message in flight: content id, signed publisher, topic, bytes. */
interface Gossip {
  readonly id: string;
  readonly origin: string;
  readonly topic: GossipTopic;
  readonly data: Uint8Array;
}

export interface MemoryNetworkOptions {
  /** Delivers every message (its timers); usually the simulator's VirtualRuntime. */
  readonly runtime: Runtime;
  /** One-way delay of every message. Default 1 ms. */
  readonly latencyMs?: number;
}

/** Each node remembers this many gossip message ids (duplicates beyond are re-validated, harmless). */
const SEEN_LIMIT = 10_000;

export class MemoryCatalogNetwork {
  readonly runtime: Runtime;
  readonly latencyMs: number;
  /** Messages handed to the network, and those a partition or a stopped node dropped. */
  sent = 0;
  dropped = 0;
  private readonly byAddress = new Map<string, Endpoint>();
  private readonly group = new Map<string, number>();

  constructor(opts: MemoryNetworkOptions) {
    this.runtime = opts.runtime;
    this.latencyMs = opts.latencyMs ?? 1;
  }

  /** A transport for one node: reachable at `address`, gated by `gossipKeys` (none: open). */
  transport(opts: {
    peerId: string;
    address: string;
    gossipKeys?: readonly Uint8Array[] | undefined;
  }): CatalogTransportFactory {
    return async (handlers) => {
      const endpoint = new Endpoint(this, opts.peerId, opts.address, opts.gossipKeys ?? [], handlers);
      this.byAddress.set(opts.address, endpoint);
      return endpoint;
    };
  }

  /** Splits the peers into groups that cannot reach each other; unlisted peers reach everyone. */
  partition(groups: readonly (readonly string[])[]): void {
    this.group.clear();
    groups.forEach((peers, i) => {
      for (const p of peers) this.group.set(p, i + 1);
    });
  }

  heal(): void {
    this.group.clear();
  }

  reachable(a: string, b: string): boolean {
    const ga = this.group.get(a) ?? 0;
    const gb = this.group.get(b) ?? 0;
    return ga === 0 || gb === 0 || ga === gb;
  }

  endpointAt(address: string): Endpoint | undefined {
    return this.byAddress.get(address);
  }

  forget(endpoint: Endpoint): void {
    if (this.byAddress.get(endpoint.address) === endpoint) this.byAddress.delete(endpoint.address);
  }

  /** Runs `fn` after the latency if `from` can reach `to` now; otherwise the message is lost. */
  send(from: string, to: string, fn: () => void): void {
    this.sent++;
    if (!this.reachable(from, to)) {
      this.dropped++;
      return;
    }
    this.runtime.timers.after(this.latencyMs, fn);
  }
}

interface Connection {
  readonly dialer: Endpoint;
  readonly listener: Endpoint;
  readonly streams: Set<MemoryStream>;
}

class Endpoint implements CatalogTransport {
  readonly peerId: string;
  readonly address: string;
  readonly privateNetwork: boolean;
  private readonly net: MemoryCatalogNetwork;
  private readonly handlers: TransportHandlers;
  private keys: string[];
  private up = true;
  readonly conns = new Map<string, Connection>();
  private readonly subscribers = new Set<string>();
  private readonly seen = new Set<string>();
  /** Other planes' protocols (elections) lent the connections. */
  private readonly protocols = new Map<string, (stream: SyncStream, peerId: string) => void>();

  constructor(
    net: MemoryCatalogNetwork,
    peerId: string,
    address: string,
    keys: readonly Uint8Array[],
    handlers: TransportHandlers,
  ) {
    this.net = net;
    this.peerId = peerId;
    this.address = address;
    this.keys = keys.map(hex);
    this.privateNetwork = keys.length > 0;
    this.handlers = handlers;
  }

  listenAddresses(): string[] {
    return [this.address];
  }

  listenPort(): number {
    return 0;
  }

  resolve(advertised: string, peerId: string): TransportAddress {
    if (advertised === '') throw new Error('empty address');
    return { toString: () => advertised, peerId } as TransportAddress;
  }

  setGossipKeys(keys: readonly Uint8Array[]): void {
    if (this.privateNetwork && keys.length > 0) this.keys = keys.map(hex);
  }

  dial(addr: TransportAddress, signal: AbortSignal): Promise<void> {
    const target = this.net.endpointAt(addr.toString());
    const wanted = (addr as { peerId?: string }).peerId;
    if (!this.up) return Promise.reject(new Error('transport stopped'));
    if (target !== undefined && this.conns.get(target.peerId)?.listener === target) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => settle(signal.reason instanceof Error ? signal.reason : new Error('dial aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      if (target === undefined || !this.handlers.isAllowed(wanted ?? target.peerId)) {
        this.net.runtime.timers.after(this.net.latencyMs, () => settle(new Error('connection refused')));
        return;
      }
      if (wanted !== undefined && wanted !== target.peerId) {
        this.net.runtime.timers.after(this.net.latencyMs, () => settle(new Error(`peer id mismatch at ${addr}`)));
        return;
      }
      // The SYN (and the handshake's first flight); lost across a partition.
      this.net.send(this.peerId, target.peerId, () => {
        const refusal = target.accept(this);
        // The answer comes back the same way.
        this.net.send(target.peerId, this.peerId, () => {
          if (refusal !== undefined) return settle(new Error(refusal));
          const conn = target.conns.get(this.peerId);
          if (!this.up || conn === undefined || conn.dialer !== this) return settle(new Error('connection reset'));
          this.conns.set(target.peerId, conn);
          this.handlers.onConnect(target.peerId);
          settle();
          // Each side learns the other's topic subscription one flight later.
          this.net.send(target.peerId, this.peerId, () => this.subscribed(target.peerId, conn));
          this.net.send(this.peerId, target.peerId, () => target.subscribed(this.peerId, conn));
        });
      });
    });
  }

  /** A SYN from `dialer` arrived: undefined when accepted, else why not. */
  accept(dialer: Endpoint): string | undefined {
    if (!this.up) return 'connection refused';
    if (
      this.privateNetwork !== dialer.privateNetwork ||
      (this.privateNetwork && !this.keys.includes(dialer.keys[0]!))
    ) {
      return 'handshake failed (pnet key)';
    }
    if (!this.handlers.isAllowed(dialer.peerId)) return 'connection gated';
    // A half-open connection left by a partition gives way to the new one, as a TCP reset would.
    const stale = this.conns.get(dialer.peerId);
    if (stale !== undefined) this.drop(dialer.peerId, stale, 'connection replaced');
    const conn: Connection = { dialer, listener: this, streams: new Set() };
    this.conns.set(dialer.peerId, conn);
    this.handlers.onConnect(dialer.peerId);
    return undefined;
  }

  private subscribed(peerId: string, conn: Connection): void {
    if (!this.up || this.conns.get(peerId) !== conn) return;
    this.subscribers.add(peerId);
    this.handlers.onSubscribed(peerId);
  }

  async hangUp(peerId: string): Promise<boolean> {
    const conn = this.conns.get(peerId);
    if (conn === undefined) return false;
    this.close(peerId, conn);
    return true;
  }

  /** Closes our end and tells the other side (the FIN or RST reaches it only if it can). */
  private close(peerId: string, conn: Connection): void {
    this.drop(peerId, conn, 'connection closed');
    const other = conn.dialer === this ? conn.listener : conn.dialer;
    this.net.send(this.peerId, peerId, () => {
      const theirs = other.conns.get(this.peerId);
      if (theirs === conn) other.drop(this.peerId, conn, 'connection reset by peer', true);
    });
  }

  /** Forgets a connection; `notify` reports it to the node (a close we did not choose). */
  drop(peerId: string, conn: Connection, why: string, notify = false): void {
    if (this.conns.get(peerId) !== conn) return;
    this.conns.delete(peerId);
    this.subscribers.delete(peerId);
    for (const s of conn.streams) if (s.owner === this) s.fail(new Error(why));
    if (notify && this.up) this.handlers.onDisconnect(peerId);
  }

  async publish(topic: GossipTopic, data: Uint8Array): Promise<void> {
    if (!this.up) throw new Error('transport stopped');
    // Content-addressed like gossip-config's messageId: a restarted publisher's first message is
    // not mistaken for its previous life's, and identical bytes are one message.
    const id = createHash('sha256').update(this.peerId).update(topic).update(data).digest('hex');
    this.remember(id);
    const msg: Gossip = { id, origin: this.peerId, topic, data };
    for (const [peerId, conn] of this.conns) this.forward(peerId, conn, msg);
  }

  private forward(peerId: string, conn: Connection, msg: Gossip): void {
    const other = conn.dialer === this ? conn.listener : conn.dialer;
    this.net.send(this.peerId, peerId, () => void other.receive(this.peerId, conn, msg));
  }

  private async receive(from: string, conn: Connection, msg: Gossip): Promise<void> {
    if (!this.up || this.conns.get(from) !== conn || this.seen.has(msg.id)) return;
    this.remember(msg.id);
    const verdict = await this.handlers.onGossip(msg.data, msg.origin, msg.topic);
    if (verdict !== 'accept' || !this.up) return;
    for (const [peerId, c] of this.conns) if (peerId !== from && peerId !== msg.origin) this.forward(peerId, c, msg);
  }

  private remember(id: string): void {
    this.seen.add(id);
    if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value!);
  }

  connectedPeers(): string[] {
    return [...this.conns.keys()];
  }

  dialledTo(peerId: string): boolean {
    return this.conns.get(peerId)?.dialer === this;
  }

  gossipPeerCount(): number {
    return this.subscribers.size;
  }

  async openSync(peerId: string, signal: AbortSignal): Promise<SyncStream> {
    return this.openProtocol(peerId, undefined, signal);
  }

  async handleProtocol(
    protocol: string,
    handler: (stream: SyncStream, peerId: string) => void,
    _limits: StreamLimits,
  ): Promise<void> {
    this.protocols.set(protocol, handler);
  }

  async openStream(peerId: string, addr: TransportAddress, protocol: string, signal: AbortSignal): Promise<SyncStream> {
    if (!this.conns.has(peerId)) await this.dial(addr, signal);
    return this.openProtocol(peerId, protocol, signal);
  }

  /** A stream to a connected peer: anti-entropy when `protocol` is undefined, else a lent one. */
  private openProtocol(peerId: string, protocol: string | undefined, signal: AbortSignal): SyncStream {
    const conn = this.conns.get(peerId);
    if (conn === undefined || !this.up) throw new Error(`not connected to ${peerId}`);
    signal.throwIfAborted();
    const other = conn.dialer === this ? conn.listener : conn.dialer;
    const mine = new MemoryStream(this, conn);
    const theirs = new MemoryStream(other, conn);
    mine.peer = theirs;
    theirs.peer = mine;
    this.net.send(this.peerId, peerId, () => {
      const handler = protocol === undefined ? other.handlers.onSyncStream : other.protocols.get(protocol);
      if (!other.up || other.conns.get(this.peerId) !== conn || handler === undefined) {
        this.net.send(peerId, this.peerId, () => mine.fail(new Error('stream reset')));
        return;
      }
      handler(theirs, this.peerId);
    });
    return mine;
  }

  /** Sends a stream's bytes to the other end of `conn`, if it can be reached. */
  deliver(conn: Connection, from: Endpoint, fn: () => void): void {
    const to = conn.dialer === from ? conn.listener : conn.dialer;
    this.net.send(from.peerId, to.peerId, () => {
      if (to.up && to.conns.get(from.peerId) === conn) fn();
    });
  }

  /** A stop is a crash as far as peers can tell: every connection is reset. */
  async stop(): Promise<void> {
    if (!this.up) return;
    for (const [peerId, conn] of [...this.conns]) this.close(peerId, conn);
    this.up = false;
    this.net.forget(this);
  }

  get isUp(): boolean {
    return this.up;
  }
}

/** One end of an in-memory byte stream: what `send` writes the other end's iterator yields. */
class MemoryStream implements SyncStream {
  peer!: MemoryStream;
  readonly owner: Endpoint;
  private readonly conn: Connection;
  private readonly queue: Uint8Array[] = [];
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(owner: Endpoint, conn: Connection) {
    this.owner = owner;
    this.conn = conn;
    conn.streams.add(this);
  }

  send(data: Uint8Array | Uint8ArrayList): boolean {
    if (this.error) throw this.error;
    const copy = data instanceof Uint8ArrayList ? data.subarray() : data.slice();
    this.owner.deliver(this.conn, this.owner, () => this.peer.push(copy));
    return true;
  }

  async onDrain(): Promise<void> {}

  async close(): Promise<void> {
    this.owner.deliver(this.conn, this.owner, () => this.peer.end());
  }

  abort(err: Error): void {
    this.fail(err);
    this.owner.deliver(this.conn, this.owner, () => this.peer.fail(new Error('stream reset by peer')));
  }

  push(chunk: Uint8Array): void {
    if (this.error || this.ended) return;
    this.queue.push(chunk);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  fail(err: Error): void {
    if (this.error) return;
    this.error = err;
    this.conn.streams.delete(this);
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (this.error) throw this.error;
      const chunk = this.queue.shift();
      if (chunk !== undefined) {
        yield chunk;
        continue;
      }
      if (this.ended) {
        this.conn.streams.delete(this);
        return;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}

function hex(key: Uint8Array): string {
  return Buffer.from(key).toString('hex');
}
