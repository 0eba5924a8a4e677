// The production CatalogTransport: a libp2p 3 node (TCP + pnet + Noise + Yamux, gossipsub; a peer's
// protocols are assumed, not identified: own-protocols.ts). No discovery, no auto-dial, no peer
// exchange and no connection monitor: the gater asks the catalog node, which asks membership.

import { isIP } from 'node:net';
import {
  type GossipSub,
  type GossipsubOpts,
  gossipsub,
  type Message,
  type SubscriptionChangeData,
  TopicValidatorResult,
} from '@libp2p/gossipsub';
import { type Identify, identify } from '@libp2p/identify';
import type { ComponentLogger, Logger, PeerId, PrivateKey } from '@libp2p/interface';
import { noise } from '@libp2p/noise';
import { peerIdFromString } from '@libp2p/peer-id';
import { tcp } from '@libp2p/tcp';
import { yamux } from '@libp2p/yamux';
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2p } from 'libp2p';
import { type HostPort, parseHostPort } from '../base/host-port.ts';
import type {
  CatalogTransport,
  GossipTopic,
  GossipVerdict,
  StreamLimits,
  TransportAddress,
  TransportHandlers,
} from './catalog-transport.ts';
import { CATALOG_TOPIC, catalogGossipsubOptions, OPINION_TOPIC } from './gossip-config.ts';
import { ownProtocols } from './own-protocols.ts';
import { derivePnetKey } from './pnet-key.ts';
import { pnetProtector } from './pnet-protector.ts';
import { SYNC_PROTOCOLS, type SyncStream } from './sync-protocol.ts';
import { halfWindowUpdates } from './yamux-window.ts';

type Services = { identify: Identify; ownProtocols?: unknown; pubsub: GossipSub };

export interface Libp2pTransportOptions {
  readonly privateKey: PrivateKey;
  /** HOST must be an IP; port 0 picks a free port. */
  readonly listen: HostPort;
  /** Cluster gossip keys, primary first; none = no pnet (development mode). */
  readonly gossipKeys?: readonly Uint8Array[] | undefined;
  readonly dialTimeoutMs: number;
  readonly gossipsub?: Partial<GossipsubOpts> | undefined;
  /** Yamux keep-alive ping period (default 2 min, why: at its use); the socket timeout follows it. */
  readonly keepAliveMs?: number | undefined;
  /** Identify every connection as stock libp2p does, instead of own-protocols.ts (the benchmark's A/B). */
  readonly identifyOnConnect?: boolean | undefined;
}

const KEEP_ALIVE_MS = 120_000;

/**
 * libp2p makes loggers per connection and per stream, three `debug` instances each, and every one
 * tests whether stderr is a TTY, enabled or not: a CPU profile of 200 connections put ~1 ms per
 * connection there (a timing A/B could not tell it from noise, ~22 ms per connection both sides).
 * Ours logs nothing, so `DEBUG=...` (libp2p's own switch) is the only case that gets the real ones.
 */
const SILENT: Logger = Object.assign(() => {}, {
  enabled: false,
  error: () => {},
  trace: () => {},
  newScope: () => SILENT,
});
const SILENT_LOGGER: ComponentLogger = { forComponent: () => SILENT };

const TOPICS: Record<GossipTopic, string> = { records: CATALOG_TOPIC, opinions: OPINION_TOPIC };

const VERDICT: Record<GossipVerdict, TopicValidatorResult> = {
  accept: TopicValidatorResult.Accept,
  ignore: TopicValidatorResult.Ignore,
  reject: TopicValidatorResult.Reject,
};

export async function startLibp2pTransport(
  opts: Libp2pTransportOptions,
  handlers: TransportHandlers,
): Promise<CatalogTransport> {
  // The protector reads the keys per connection, so a rotation needs no restart.
  const pnetKeys = { current: (opts.gossipKeys ?? []).map(derivePnetKey) };
  const allowed = (peer: PeerId): boolean => handlers.isAllowed(peer.toString());
  const keepAliveMs = opts.keepAliveMs ?? KEEP_ALIVE_MS;
  const socketInactivityMs = (3 * keepAliveMs) / 2;
  const libp2p = await createLibp2p<Services>({
    privateKey: opts.privateKey,
    addresses: { listen: [listenMultiaddr(opts.listen)] },
    // A TCP socket with no traffic for its inactivity timeout is closed, and libp2p's default (2 min)
    // equals our keep-alive: a socket whose only traffic is its own side's pings (the two sides'
    // pingers in phase) times out just before the next ping. Measured on plain libp2p pairs with
    // both at 3 s and the pingers started together: 10 of 10 idle connections closed after one
    // period, none at 7.5 s. Agents start the two pingers ~10 ms apart, so a drop needs their phases
    // to drift together (none in 8 idle minutes at 10 agents); each costs a re-dial (Noise,
    // identify, subscriptions, an anti-entropy exchange). 1.5 periods: the own ping always lands in
    // time, and a ping left without its pong (yamux then sends no next one: peer gone, socket
    // half-open) still closes the connection, after 3 minutes instead of 2.
    transports: [
      tcp({
        inboundSocketInactivityTimeout: socketInactivityMs,
        outboundSocketInactivityTimeout: socketInactivityMs,
      }),
    ],
    ...(pnetKeys.current.length === 0
      ? {}
      : // pnet v1 (wire-compatible with @libp2p/pnet, which leaks; see pnet-protector.ts)
        { connectionProtector: pnetProtector(() => pnetKeys.current) }),
    connectionEncrypters: [noise()],
    // Yamux pings every connection both ways (4 frames of 30 bytes with Noise) every 30 s by default,
    // only to measure RTT: a failed ping closes nothing, membership finds dead peers. 120 s still
    // refreshes NAT and load-balancer idle timers (Azure 240 s, AWS NAT 350 s) on connections that
    // carry nothing else, and cuts that traffic (~24 B/s per agent at 50 agents, degree 6) by 4.
    // Window updates once half the window is used, not after every frame (yamux-window.ts).
    streamMuxers: [halfWindowUpdates(yamux({ keepAliveInterval: keepAliveMs }))],
    connectionManager: {
      // Well above any cluster's needs so the pruner never closes a member's connection.
      maxConnections: 1024,
      // Admission is pnet + the gater; the per-IP rate limit (default 5/s) would refuse a burst of
      // agents joining from one host or NAT, so it is raised, and lifted for loopback.
      inboundConnectionThreshold: 100,
      maxIncomingPendingConnections: 64,
      allow: ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'],
      dialTimeout: opts.dialTimeoutMs,
      addressDialTimeout: opts.dialTimeoutMs,
      // A wrong-key dialer's half-upgraded socket is held at most this long.
      inboundUpgradeTimeout: 5_000,
      // Only KEEP_ALIVE-tagged peers are redialled by libp2p; we tag none. Membership redials.
      reconnectRetries: 0,
    },
    connectionMonitor: { enabled: false },
    connectionGater: {
      denyDialPeer: (peer) => !allowed(peer),
      denyInboundEncryptedConnection: (peer) => !allowed(peer),
      denyOutboundEncryptedConnection: (peer) => !allowed(peer),
    },
    peerDiscovery: [],
    ...(process.env.DEBUG ? {} : { logger: SILENT_LOGGER }),
    services: {
      // Answers older agents' identify; ours does not ask (own-protocols.ts).
      identify: identify({ runOnConnectionOpen: opts.identifyOnConnect === true }),
      ...(opts.identifyOnConnect === true ? {} : { ownProtocols: ownProtocols() }),
      pubsub: gossipsub(catalogGossipsubOptions(opts.gossipsub)),
    },
  });
  const transport = new Libp2pTransport(libp2p, pnetKeys, handlers);
  try {
    transport.listenPort();
    await transport.init();
  } catch (err) {
    await transport.stop();
    throw err;
  }
  return transport;
}

class Libp2pTransport implements CatalogTransport {
  readonly peerId: string;
  readonly privateNetwork: boolean;
  private readonly libp2p: Libp2p<Services>;
  private readonly pnetKeys: { current: Uint8Array[] };
  private readonly handlers: TransportHandlers;
  private boundPort: number | undefined;

  constructor(libp2p: Libp2p<Services>, pnetKeys: { current: Uint8Array[] }, handlers: TransportHandlers) {
    this.libp2p = libp2p;
    this.peerId = libp2p.peerId.toString();
    this.pnetKeys = pnetKeys;
    this.privateNetwork = pnetKeys.current.length > 0;
    this.handlers = handlers;
  }

  async init(): Promise<void> {
    const pubsub = this.libp2p.services.pubsub;
    for (const [topic, name] of Object.entries(TOPICS) as [GossipTopic, string][]) {
      pubsub.topicValidators.set(name, (_from, msg) => this.validate(msg, topic));
      pubsub.subscribe(name);
    }
    await this.libp2p.handle(
      [...SYNC_PROTOCOLS],
      (stream, connection) => this.handlers.onSyncStream(stream, connection.remotePeer.toString()),
      { maxInboundStreams: 2, maxOutboundStreams: 2 },
    );
    this.libp2p.addEventListener('peer:connect', this.onPeerConnect);
    this.libp2p.addEventListener('peer:disconnect', this.onPeerDisconnect);
    pubsub.addEventListener('subscription-change', this.onSubscriptionChange);
  }

  private async validate(msg: Message, topic: GossipTopic): Promise<TopicValidatorResult> {
    if (msg.type !== 'signed') return TopicValidatorResult.Reject; // StrictSign makes this unreachable
    return VERDICT[await this.handlers.onGossip(msg.data, msg.from.toString(), topic)];
  }

  private readonly onPeerConnect = (evt: CustomEvent<PeerId>): void => this.handlers.onConnect(evt.detail.toString());
  private readonly onPeerDisconnect = (evt: CustomEvent<PeerId>): void =>
    this.handlers.onDisconnect(evt.detail.toString());
  private readonly onSubscriptionChange = (evt: CustomEvent<SubscriptionChangeData>): void => {
    const { peerId, subscriptions } = evt.detail;
    if (subscriptions.some((s) => s.topic === CATALOG_TOPIC && s.subscribe)) {
      this.handlers.onSubscribed(peerId.toString());
    }
  };

  listenAddresses(): string[] {
    return this.libp2p.getMultiaddrs().map((ma) => ma.toString());
  }

  listenPort(): number {
    this.boundPort ??= boundTcpPort(this.libp2p.getMultiaddrs());
    return this.boundPort;
  }

  resolve(advertised: string, peerId: string): TransportAddress {
    return dialMultiaddr(advertised, peerId);
  }

  setGossipKeys(keys: readonly Uint8Array[]): void {
    if (!this.privateNetwork || keys.length === 0) return;
    this.pnetKeys.current = keys.map(derivePnetKey);
  }

  async publish(topic: GossipTopic, data: Uint8Array): Promise<void> {
    await this.libp2p.services.pubsub.publish(TOPICS[topic], data);
  }

  async dial(addr: TransportAddress, signal: AbortSignal): Promise<void> {
    await this.libp2p.dial(addr as Multiaddr, { signal });
  }

  async hangUp(peerId: string): Promise<boolean> {
    const peer = peerIdFromString(peerId);
    if (this.libp2p.getConnections(peer).length === 0) return false;
    await this.libp2p.hangUp(peer);
    await this.libp2p.peerStore.delete(peer);
    return true;
  }

  connectedPeers(): string[] {
    return [...new Set(this.libp2p.getConnections().map((c) => c.remotePeer.toString()))];
  }

  dialledTo(peerId: string): boolean {
    return this.libp2p.getConnections(peerIdFromString(peerId)).some((c) => c.direction === 'outbound');
  }

  gossipPeerCount(): number {
    return this.libp2p.services.pubsub.getSubscribers(CATALOG_TOPIC).length;
  }

  async openSync(peerId: string, signal: AbortSignal): Promise<SyncStream> {
    const conn = this.libp2p.getConnections(peerIdFromString(peerId)).find((c) => c.status === 'open');
    if (conn === undefined) throw new Error(`not connected to ${peerId}`);
    return conn.newStream([...SYNC_PROTOCOLS], { signal });
  }

  async handleProtocol(
    protocol: string,
    handler: (stream: SyncStream, peerId: string) => void,
    limits: StreamLimits,
  ): Promise<void> {
    await this.libp2p.handle(
      protocol,
      (stream, connection) => handler(stream, connection.remotePeer.toString()),
      limits,
    );
  }

  async openStream(peerId: string, addr: TransportAddress, protocol: string, signal: AbortSignal): Promise<SyncStream> {
    const open = this.libp2p.getConnections(peerIdFromString(peerId)).find((c) => c.status === 'open');
    const conn = open ?? (await this.libp2p.dial(addr as Multiaddr, { signal }));
    return conn.newStream(protocol, { signal });
  }

  async stop(): Promise<void> {
    this.libp2p.removeEventListener('peer:connect', this.onPeerConnect);
    this.libp2p.removeEventListener('peer:disconnect', this.onPeerDisconnect);
    this.libp2p.services.pubsub.removeEventListener('subscription-change', this.onSubscriptionChange);
    await this.libp2p.stop();
  }
}

function boundTcpPort(addrs: readonly Multiaddr[]): number {
  for (const ma of addrs) {
    const tcpPart = ma.getComponents().find((c) => c.name === 'tcp');
    if (tcpPart?.value !== undefined) return Number(tcpPart.value);
  }
  throw new Error('catalog: libp2p is not listening on TCP');
}

function listenMultiaddr({ host, port }: HostPort): string {
  const family = isIP(host);
  if (family === 0) throw new Error(`catalog: the p2p listen host must be an IP address, not ${JSON.stringify(host)}`);
  return `/ip${family}/${host}/tcp/${port}`;
}

/** A peer's dial address from its `vigil:p2p` tag (`HOST:PORT`) or a multiaddr, ending in /p2p/<id>. */
export function dialMultiaddr(addr: string, peerId: string): Multiaddr {
  let ma: Multiaddr;
  if (addr.startsWith('/')) {
    ma = multiaddr(addr);
  } else {
    const hp = parseHostPort(addr);
    if (typeof hp === 'string') throw new Error(hp);
    const family = isIP(hp.host);
    ma = multiaddr(family === 0 ? `/dns/${hp.host}/tcp/${hp.port}` : `/ip${family}/${hp.host}/tcp/${hp.port}`);
  }
  const embedded = ma.getComponents().find((c) => c.name === 'p2p')?.value;
  if (embedded === undefined) return ma.encapsulate(`/p2p/${peerId}`);
  if (embedded !== peerId) throw new Error(`address names peer ${embedded}, not ${peerId}`);
  return ma;
}
