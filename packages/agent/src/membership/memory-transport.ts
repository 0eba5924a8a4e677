// An in-memory gossip network for the simulator, memberlist's MockNetwork in spirit: every node
// of a run in one process, datagrams and stream dials delivered by the runtime's timers (virtual
// time), partitions and lost datagrams on demand. What it models:
//   - a datagram arrives after the network's latency, unless a partition, the loss rate or a
//     closed receiver drops it (counted);
//   - a dial is refused (code ECONNREFUSED) after one latency when nothing listens there, as a
//     crashed process's closed port is, and hangs until its deadline across a partition (a SYN
//     that never comes back); a bound endpoint accepts whatever its loop is doing, as the
//     kernel's listen backlog does for a stalled process;
//   - an accepted stream is a Duplex pair: its bytes move on the event loop, in order, without
//     virtual latency, and a later partition does not cut it (memberlist's streams are short).

import { type Duplex, duplexPair } from 'node:stream';
import type { Runtime } from '../runtime/index.ts';
import { type Address, addressKey } from './address.ts';
import type { Transport, TransportFactory, TransportHandlers } from './transport.ts';

export interface MemoryGossipNetworkOptions {
  /** Delivers every datagram and dial (its timers) and draws the losses: the sim's runtime. */
  readonly runtime: Runtime;
  /** One-way delay of every datagram and dial. Default 1 ms. */
  readonly latencyMs?: number;
  /** Share of datagrams lost, in [0, 1). Default 0. */
  readonly loss?: number;
}

/** Ports handed out for binds to port 0, as the kernel's ephemeral range would. */
const FIRST_EPHEMERAL_PORT = 40_000;

export class MemoryGossipNetwork {
  /** Datagrams handed to the network, and those lost, partitioned away or sent to nobody. */
  sent = 0;
  dropped = 0;
  private readonly runtime: Runtime;
  private readonly latencyMs: number;
  private readonly loss: number;
  private readonly endpoints = new Map<string, MemoryTransport>();
  private readonly group = new Map<string, number>();
  private nextPort = FIRST_EPHEMERAL_PORT;

  constructor(opts: MemoryGossipNetworkOptions) {
    this.runtime = opts.runtime;
    this.latencyMs = opts.latencyMs ?? 1;
    this.loss = opts.loss ?? 0;
  }

  /** The factory a MembershipService takes as its `transport`. */
  readonly bind: TransportFactory = async (bind: Address, handlers: TransportHandlers) => {
    const address = { host: bind.host, port: bind.port === 0 ? this.nextPort++ : bind.port };
    const key = addressKey(address);
    if (this.endpoints.has(key)) throw new Error(`cannot listen on ${key}: EADDRINUSE`);
    const endpoint = new MemoryTransport(this, address, handlers);
    this.endpoints.set(key, endpoint);
    return endpoint;
  };

  /** Splits addresses (host:port) into groups that cannot reach each other; unlisted ones reach all. */
  partition(groups: readonly (readonly Address[])[]): void {
    this.group.clear();
    groups.forEach((members, i) => {
      for (const a of members) this.group.set(addressKey(a), i + 1);
    });
  }

  heal(): void {
    this.group.clear();
  }

  reachable(a: Address, b: Address): boolean {
    const ga = this.group.get(addressKey(a)) ?? 0;
    const gb = this.group.get(addressKey(b)) ?? 0;
    return ga === 0 || gb === 0 || ga === gb;
  }

  /** @internal */
  deliverPacket(from: Address, to: Address, data: Uint8Array): void {
    this.sent++;
    if (this.loss > 0 && this.runtime.random.next() < this.loss) {
      this.dropped++;
      return;
    }
    // A copy: the sender may reuse its buffer, as it may with a real socket.
    const bytes = Uint8Array.from(data);
    this.runtime.timers.after(this.latencyMs, () => {
      const target = this.endpoints.get(addressKey(to));
      if (!target || !this.reachable(from, to)) {
        this.dropped++;
        return;
      }
      target.receivePacket(from, bytes);
    });
  }

  /** @internal */
  dial(from: MemoryTransport, to: Address, timeoutMs: number): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const where = `${to.host}:${to.port}`;
      if (!this.reachable(from.address, to)) {
        this.runtime.timers.after(timeoutMs, () => reject(new Error(`connect to ${where} timed out`)));
        return;
      }
      this.runtime.timers.after(Math.min(this.latencyMs, timeoutMs), () => {
        const target = this.endpoints.get(addressKey(to));
        if (!target) {
          reject(Object.assign(new Error(`connect to ${where} failed: ECONNREFUSED`), { code: 'ECONNREFUSED' }));
          return;
        }
        const [ours, theirs] = duplexPair();
        from.track(ours);
        target.track(theirs);
        target.acceptStream(theirs, from.address);
        resolve(ours);
      });
    });
  }

  /** @internal */
  unbind(endpoint: MemoryTransport): void {
    const key = addressKey(endpoint.address);
    if (this.endpoints.get(key) === endpoint) this.endpoints.delete(key);
  }
}

class MemoryTransport implements Transport {
  readonly address: Address;
  private readonly network: MemoryGossipNetwork;
  private readonly handlers: TransportHandlers;
  private readonly open = new Set<Duplex>();
  private closed = false;

  constructor(network: MemoryGossipNetwork, address: Address, handlers: TransportHandlers) {
    this.network = network;
    this.address = address;
    this.handlers = handlers;
  }

  sendPacket(to: Address, data: Uint8Array): void {
    if (!this.closed) this.network.deliverPacket(this.address, to, data);
  }

  dial(to: Address, timeoutMs: number): Promise<Duplex> {
    if (this.closed) return Promise.reject(new Error('transport closed'));
    return this.network.dial(this, to, timeoutMs);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.network.unbind(this);
    for (const s of this.open) s.destroy();
  }

  receivePacket(from: Address, data: Uint8Array): void {
    if (!this.closed) this.handlers.packet(from, data);
  }

  acceptStream(stream: Duplex, from: Address): void {
    this.handlers.stream(stream, from);
  }

  track(stream: Duplex): void {
    // As GossipTransport: a late error on a stream nobody reads any more is harmless.
    stream.on('error', () => {});
    this.open.add(stream);
    stream.once('close', () => this.open.delete(stream));
  }
}
