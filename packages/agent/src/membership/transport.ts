import type { Duplex } from 'node:stream';
import type { Timers } from '../runtime/index.ts';
import type { Address } from './address.ts';

/**
 * The gossip port as memberlist's Transport sees it: datagrams (probes, gossip) and streams
 * (push/pull, TCP pings, Serf's user messages) in and out, bytes only. Production binds UDP and
 * TCP (GossipTransport); the simulator uses MemoryGossipNetwork, under virtual time.
 */
export interface Transport {
  /** The address actually bound. */
  readonly address: Address;
  /** Best effort, as UDP: a lost or refused datagram is not reported. */
  sendPacket(to: Address, data: Uint8Array): void;
  /**
   * Opens a stream to a peer's gossip port, failing after `timeoutMs`. A refused connect rejects
   * with an error whose `code` is ECONNREFUSED (tcp-ping.ts tells it from other failures).
   */
  dial(to: Address, timeoutMs: number): Promise<Duplex>;
  close(): Promise<void>;
}

export interface TransportHandlers {
  packet(from: Address, data: Uint8Array): void;
  stream(stream: Duplex, from: Address): void;
}

/** Binds a transport on `bind` (port 0: any free port); `timers` runs its deadlines. */
export type TransportFactory = (bind: Address, handlers: TransportHandlers, timers: Timers) => Promise<Transport>;
