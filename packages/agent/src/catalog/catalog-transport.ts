// What the catalog needs from a network, and nothing more: a gossip topic, connections the node
// decides, and byte streams for anti-entropy. libp2p-transport.ts is the production one;
// memory-transport.ts runs whole nodes in one process on virtual time (the simulator). The shape
// follows memberlist's Transport and js-libp2p's ConnectionGater: narrow, typed, no classes.

import type { SyncStream } from './sync-protocol.ts';

/**
 * The two gossip topics: every node's signed record, and the small opinion updates that run ahead
 * of it (opinion-codec.ts). Separate topics so that each has its own validator and bounds.
 */
export type GossipTopic = 'records' | 'opinions';

/** The gossip validator's verdict, as gossipsub takes it: forward, drop, or drop and penalise. */
export type GossipVerdict = 'accept' | 'ignore' | 'reject';

/** A dial address the transport parsed from a member's advertised address (opaque to the node). */
export interface TransportAddress {
  toString(): string;
}

/** How many streams of one protocol may be open at once, each way, per connection. */
export interface StreamLimits {
  readonly maxInboundStreams: number;
  readonly maxOutboundStreams: number;
}

/** The node's side of the contract: the transport calls these. */
export interface TransportHandlers {
  /** The gate: connections to or from anyone else are refused. */
  isAllowed(peerId: string): boolean;
  /** A gossip message on one of our topics; `from` is its (signed) publisher, not the relay. */
  onGossip(data: Uint8Array, from: string, topic: GossipTopic): Promise<GossipVerdict>;
  /** The first connection to a peer opened. */
  onConnect(peerId: string): void;
  /** The last connection to a peer closed. */
  onDisconnect(peerId: string): void;
  /** A connected peer's subscription to the catalog topic arrived: gossip reaches it from now on. */
  onSubscribed(peerId: string): void;
  /** A peer opened an anti-entropy stream to us. */
  onSyncStream(stream: SyncStream, from: string): void;
}

export interface CatalogTransport {
  readonly peerId: string;
  /** Whether connections are gated by a cluster key (pnet). */
  readonly privateNetwork: boolean;
  /** Where peers reach us. */
  listenAddresses(): string[];
  listenPort(): number;
  /** Parses a member's advertised address for dialling; throws naming the problem. */
  resolve(advertised: string, peerId: string): TransportAddress;
  /** Gossip keys changed (primary first): dial with the primary, accept any. */
  setGossipKeys(keys: readonly Uint8Array[]): void;
  publish(topic: GossipTopic, data: Uint8Array): Promise<void>;
  dial(addr: TransportAddress, signal: AbortSignal): Promise<void>;
  /** Closes every connection to the peer; resolves to whether there was one. */
  hangUp(peerId: string): Promise<boolean>;
  connectedPeers(): string[];
  /** Whether we dialled an open connection to the peer (the dialling side starts the join sync). */
  dialledTo(peerId: string): boolean;
  /** Connected peers subscribed to the catalog topic. */
  gossipPeerCount(): number;
  openSync(peerId: string, signal: AbortSignal): Promise<SyncStream>;
  /**
   * Lends the connections to another plane (elections): inbound `protocol` streams, with the
   * remote peer id. The gate has already admitted the peer; the node checks it again.
   */
  handleProtocol(
    protocol: string,
    handler: (stream: SyncStream, peerId: string) => void,
    limits: StreamLimits,
  ): Promise<void>;
  /** Opens a `protocol` stream to a peer, dialling `addr` first when no connection is open. */
  openStream(peerId: string, addr: TransportAddress, protocol: string, signal: AbortSignal): Promise<SyncStream>;
  stop(): Promise<void>;
}

/** Builds a transport once the node's handlers exist (the libp2p gater needs them at creation). */
export type CatalogTransportFactory = (handlers: TransportHandlers) => Promise<CatalogTransport>;
