// The catalog plane: a libp2p 3 node (TCP + pnet + Noise + Yamux, identify, gossipsub) that
// disseminates each agent's signed service record and repairs misses by anti-entropy.
//
// Who we talk to is not ours to decide: the membership plane calls setPeers() with the alive
// members, a connection gater refuses everyone else, and peers that leave the set are hung up on.
// There is no discovery, no auto-dial, no peer exchange and no connection monitor (SWIM does
// liveness).

import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
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
import type { Connection, PeerId, PrivateKey, Stream } from '@libp2p/interface';
import { noise } from '@libp2p/noise';
import { peerIdFromString } from '@libp2p/peer-id';
import { tcp } from '@libp2p/tcp';
import { yamux } from '@libp2p/yamux';
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import type { NodeRecord } from '@vigil/protocol';
import { createLibp2p, type Libp2p } from 'libp2p';
import type { HostPort } from '../config/host-port.ts';
import { parseHostPort } from '../config/host-port.ts';
import type { Logger } from '../log.ts';
import { CATALOG_TOPIC, catalogGossipsubOptions } from './gossip-config.ts';
import { derivePnetKey } from './pnet-key.ts';
import { pnetProtector } from './pnet-protector.ts';
import {
  decodeEnvelope,
  RecordError,
  type RecordRejection,
  type SignedRecord,
  signRecord,
  verifyEnvelope,
} from './record-codec.ts';
import { RecordStore } from './record-store.ts';
import { DEFAULT_SYNC_LIMITS, runSyncExchange, SYNC_PROTOCOL, type SyncResult } from './sync-protocol.ts';

/** A member the catalog should be connected to: from the membership view (alive members). */
export interface CatalogPeer {
  readonly node: string;
  /** The member's libp2p peer id (its `vigil:peer` tag). */
  readonly peerId: string;
  /** Where its libp2p listens: `HOST:PORT` (its `vigil:p2p` tag) or a multiaddr. */
  readonly multiaddr: string;
}

export type RecordSource = 'local' | 'gossip' | 'sync';

/** Emitted as `record` whenever the store takes a newer record for a node. */
export interface RecordChange {
  readonly record: NodeRecord;
  /** What the store held for the node before, if anything. */
  readonly previous: NodeRecord | undefined;
  readonly source: RecordSource;
}

export interface CatalogEvents {
  record: [RecordChange];
  /**
   * The last connection to a peer that membership still holds alive has closed, not by our
   * choice: a crashed host's kernel resets its connections at once, so this is early evidence
   * (only evidence: a restart or a network blip does the same) that the node may be gone.
   */
  'peer-lost': [node: string];
}

export interface CatalogNodeOptions {
  /** This agent's node name: the only node it may publish a record for. */
  readonly node: string;
  /** The persistent Ed25519 node key (data-dir/identity.ts); its peer id is the libp2p identity. */
  readonly privateKey: PrivateKey;
  /** `--p2p HOST:PORT` (port 0 picks a free port; see listenAddresses()). HOST must be an IP. */
  readonly listen: HostPort;
  /**
   * The cluster gossip keys, primary first (the membership keyring). A pnet key is derived from
   * each: we dial with the primary's and accept any, so a live key rotation never splits the mesh
   * (see setGossipKeys). Without keys (development mode) libp2p runs without pnet: any host that
   * reaches the port can connect.
   */
  readonly gossipKeys?: readonly Uint8Array[] | undefined;
  /**
   * The peer id membership holds for a node, or undefined when it knows none. Records are accepted
   * only from that peer. Defaults to the node → peer id map of the last setPeers() call.
   */
  readonly peerIdOf?: ((node: string) => string | undefined) | undefined;
  readonly log: Logger;
  /** Anti-entropy with one random connected peer every this many ms (±25 % jitter). Default 10 s. */
  readonly syncIntervalMs?: number;
  /** One anti-entropy exchange must finish within this. Default 10 s. */
  readonly syncTimeoutMs?: number;
  /** How often missing connections are re-dialled (failed dials back off up to 30 s). Default 1 s. */
  readonly redialIntervalMs?: number;
  /**
   * Each agent dials at most this many peers (chosen by a rendezvous hash, so the choice is stable
   * and spread); peers beyond it connect to us. Clusters up to dialDegree + 1 agents are a full
   * mesh. Default 6: a record then reaches the ~9 peers connected to its author in one hop
   * (floodPublish) and the rest through the gossipsub mesh (D 6) in one or two more, while a
   * 50-agent cluster holds ~230 connections instead of the ~1,100 of a near-full mesh. Every
   * connection costs ~20-40 ms of CPU to set up (TCP, pnet, Noise, Yamux, identify, gossipsub, a
   * catalog sync), memory, and gossipsub heartbeat work for as long as it lives: at degree 32 a
   * 50-agent cluster starting on a 2-core host spent ~30 s of CPU on handshakes.
   */
  readonly dialDegree?: number;
  readonly dialTimeoutMs?: number;
  /**
   * New peers are dialled once the peer set has stopped growing for this long (or after
   * MAX_SETTLE_MS of steady growth). Default 1 s; see redialTick().
   */
  readonly settleMs?: number;
  /** Most nodes the store keeps records for. Default 4096. */
  readonly maxNodes?: number;
  /** Overrides for the gossipsub settings in gossip-config.ts (tests, benchmarks). */
  readonly gossipsub?: Partial<GossipsubOpts>;
}

export interface CatalogStats {
  readonly records: number;
  readonly connectedPeers: number;
  /** Connected peers whose subscription to the catalog topic we have seen (gossip reaches them). */
  readonly gossipPeers: number;
  readonly allowedPeers: number;
  readonly published: number;
  readonly publishErrors: number;
  /** Records that changed the store, by path. */
  readonly accepted: { readonly gossip: number; readonly sync: number };
  /** Valid records older than (or equal to) what the store holds. */
  readonly stale: number;
  /** Records refused, by reason (both paths). */
  readonly rejected: Readonly<Record<RecordRejection, number>>;
  readonly syncRuns: number;
  readonly syncFailures: number;
  /** Exchanges closed because the other side broke the protocol (bad frames, wrong order, too much). */
  readonly syncMalformed: number;
  readonly syncRecordsSent: number;
  readonly syncRecordsReceived: number;
  readonly dials: number;
  readonly dialFailures: number;
  readonly hangUps: number;
}

type Services = { identify: Identify; pubsub: GossipSub };

const DEFAULTS = {
  syncIntervalMs: 10_000,
  syncTimeoutMs: 10_000,
  redialIntervalMs: 1_000,
  dialDegree: 6,
  dialTimeoutMs: 5_000,
  settleMs: 1_000,
  maxNodes: 4096,
} as const;
const MAX_REDIAL_BACKOFF_MS = 30_000;
/**
 * Dials in flight at once. Joining a large cluster means dozens of handshakes; running them all at
 * once on a busy host makes each one slow enough to time out, and the retries cost more again.
 */
const MAX_CONCURRENT_DIALS = 2;
/** The longest a growing peer set holds back new dials (see settleMs). */
const MAX_SETTLE_MS = 5_000;
/** Warnings about rejected records: at most one per reason per this many ms (the rest are counted). */
const REJECTION_LOG_INTERVAL_MS = 10_000;

interface AllowedPeer {
  readonly node: string;
  readonly peerId: string;
  /** The address as membership gave it (CatalogPeer.multiaddr). */
  readonly advertised: string;
  readonly addr: Multiaddr;
  /** Rendezvous rank of the pair (lower = preferred); symmetric, so both ends agree. */
  readonly rank: string;
}

interface DialState {
  inFlight: boolean;
  failures: number;
  notBefore: number;
  /** When we first saw this peer allowed and not connected (for the dial tie-break). */
  waitingSince: number;
}

/** Thrown by publish() for a record this node may not or cannot publish. */
export class CatalogPublishError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CatalogPublishError';
  }
}

export class CatalogNode extends EventEmitter<CatalogEvents> {
  readonly node: string;
  readonly peerId: string;
  /** True when connections are gated by pnet (a gossip key was given). */
  readonly privateNetwork: boolean;

  private readonly libp2p: Libp2p<Services>;
  private readonly privateKey: PrivateKey;
  private readonly log: Logger;
  private readonly peerIdOf: (node: string) => string | undefined;
  private readonly store: RecordStore;
  private readonly opts: Required<Omit<CatalogNodeOptions, 'gossipKeys' | 'peerIdOf' | 'gossipsub'>>;
  private allowed = new Map<string, AllowedPeer>();
  private peerIdByNode = new Map<string, string>();
  private readonly dialState = new Map<string, DialState>();
  private readonly syncing = new Map<string, Promise<SyncResult>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly lastRejectionLog = new Map<RecordRejection, { at: number; suppressed: number }>();
  private stopped = false;
  private boundPort: number | undefined;
  /** When setPeers last admitted a peer that was not in the set before. */
  private lastPeerAddedAt = 0;
  /** Since when the set has been growing without a settle-long pause; undefined when settled. */
  private growingSince: number | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  /** The pnet keys the protector reads per connection (shared with it; see setGossipKeys). */
  private readonly pnetKeys: { current: Uint8Array[] };
  private readonly counters = {
    published: 0,
    publishErrors: 0,
    acceptedGossip: 0,
    acceptedSync: 0,
    stale: 0,
    syncRuns: 0,
    syncFailures: 0,
    syncMalformed: 0,
    syncRecordsSent: 0,
    syncRecordsReceived: 0,
    dials: 0,
    dialFailures: 0,
    hangUps: 0,
  };
  private readonly rejected: Record<RecordRejection, number> = {
    malformed: 0,
    'too-large': 0,
    'unknown-node': 0,
    'wrong-signer': 0,
    'bad-signature': 0,
  };

  private constructor(
    opts: CatalogNodeOptions,
    libp2p: Libp2p<Services>,
    log: Logger,
    pnetKeys: { current: Uint8Array[] },
  ) {
    super();
    this.node = opts.node;
    this.libp2p = libp2p;
    this.pnetKeys = pnetKeys;
    this.peerId = libp2p.peerId.toString();
    this.privateKey = opts.privateKey;
    this.privateNetwork = pnetKeys.current.length > 0;
    this.log = log;
    this.peerIdOf = opts.peerIdOf ?? ((node) => this.peerIdByNode.get(node));
    this.opts = {
      node: opts.node,
      privateKey: opts.privateKey,
      listen: opts.listen,
      log: opts.log,
      syncIntervalMs: opts.syncIntervalMs ?? DEFAULTS.syncIntervalMs,
      syncTimeoutMs: opts.syncTimeoutMs ?? DEFAULTS.syncTimeoutMs,
      redialIntervalMs: opts.redialIntervalMs ?? DEFAULTS.redialIntervalMs,
      dialDegree: opts.dialDegree ?? DEFAULTS.dialDegree,
      dialTimeoutMs: opts.dialTimeoutMs ?? DEFAULTS.dialTimeoutMs,
      settleMs: opts.settleMs ?? DEFAULTS.settleMs,
      maxNodes: opts.maxNodes ?? DEFAULTS.maxNodes,
    };
    this.store = new RecordStore(this.opts.maxNodes);
  }

  /** Creates and starts the node: listening, subscribed, anti-entropy scheduled. */
  static async start(opts: CatalogNodeOptions): Promise<CatalogNode> {
    const log = opts.log.child({ plane: 'catalog' });
    const listen = listenMultiaddr(opts.listen);
    const pnetKeys = { current: (opts.gossipKeys ?? []).map(derivePnetKey) };
    if (pnetKeys.current.length === 0) {
      log.warn(
        'catalog: no gossip key, so libp2p runs WITHOUT pnet: any host that reaches the p2p port can connect (records are still signed); pass --encrypt KEY',
      );
    }
    // The gater consults the instance, which exists only after createLibp2p returns.
    let self: CatalogNode | undefined;
    const isAllowed = (peer: PeerId): boolean => self?.allowed.has(peer.toString()) ?? false;
    const libp2p = await createLibp2p<Services>({
      privateKey: opts.privateKey,
      addresses: { listen: [listen] },
      transports: [tcp()],
      ...(pnetKeys.current.length === 0
        ? {}
        : // pnet v1 (wire-compatible with @libp2p/pnet, which leaks; see pnet-protector.ts)
          { connectionProtector: pnetProtector(() => pnetKeys.current) }),
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: {
        // Well above any cluster's needs so the pruner never closes a member's connection.
        maxConnections: 1024,
        // Admission is pnet + the gater; the per-IP rate limit (default 5/s) would refuse a burst of
        // agents joining from one host or NAT, so it is raised, and lifted for loopback.
        inboundConnectionThreshold: 100,
        maxIncomingPendingConnections: 64,
        allow: ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'],
        dialTimeout: opts.dialTimeoutMs ?? DEFAULTS.dialTimeoutMs,
        addressDialTimeout: opts.dialTimeoutMs ?? DEFAULTS.dialTimeoutMs,
        // A wrong-key dialer's half-upgraded socket is held at most this long.
        inboundUpgradeTimeout: 5_000,
        // Only KEEP_ALIVE-tagged peers are redialled by libp2p; we tag none. Membership redials.
        reconnectRetries: 0,
      },
      connectionMonitor: { enabled: false },
      connectionGater: {
        denyDialPeer: (peer) => !isAllowed(peer),
        denyInboundEncryptedConnection: (peer) => !isAllowed(peer),
        denyOutboundEncryptedConnection: (peer) => !isAllowed(peer),
      },
      peerDiscovery: [],
      services: {
        identify: identify(),
        pubsub: gossipsub(catalogGossipsubOptions(opts.gossipsub)),
      },
    });
    const node = new CatalogNode(opts, libp2p, log, pnetKeys);
    self = node;
    try {
      node.listenPort();
      await node.init();
    } catch (err) {
      await node.stop();
      throw err;
    }
    log.info(
      { peerId: node.peerId, listen: node.listenAddresses(), pnet: node.privateNetwork },
      'catalog: libp2p node started',
    );
    return node;
  }

  private async init(): Promise<void> {
    const pubsub = this.libp2p.services.pubsub;
    pubsub.topicValidators.set(CATALOG_TOPIC, (_from, msg) => this.validateGossip(msg));
    pubsub.subscribe(CATALOG_TOPIC);
    await this.libp2p.handle(SYNC_PROTOCOL, (stream, connection) => this.handleSync(stream, connection), {
      maxInboundStreams: 2,
      maxOutboundStreams: 2,
    });
    this.libp2p.addEventListener('peer:connect', this.onPeerConnect);
    this.libp2p.addEventListener('peer:disconnect', this.onPeerDisconnect);
    pubsub.addEventListener('subscription-change', this.onSubscriptionChange);
    this.schedule(() => this.redialTick(), this.opts.redialIntervalMs, false);
    this.schedule(() => this.syncTick(), this.opts.syncIntervalMs, true);
  }

  // ---- public API ----------------------------------------------------------------------------

  /**
   * Follows a gossip key rotation: new connections are dialled under the new primary's pnet key
   * and accepted under any installed key's. Open connections stay as they are. Ignored without pnet
   * (a development-mode node cannot start gating connections at run time).
   */
  setGossipKeys(keys: readonly Uint8Array[]): void {
    if (!this.privateNetwork || keys.length === 0) return;
    this.pnetKeys.current = keys.map(derivePnetKey);
  }

  /** The bound listen addresses, each ending in /p2p/<peerId>. */
  listenAddresses(): string[] {
    return this.libp2p.getMultiaddrs().map((ma) => ma.toString());
  }

  /** The bound TCP port (useful when listening on port 0). */
  listenPort(): number {
    this.boundPort ??= boundTcpPort(this.libp2p.getMultiaddrs());
    return this.boundPort;
  }

  /**
   * Lends the catalog's connections to another plane (elections): `handler` gets inbound streams
   * of `protocol` from admitted members only, with the member's node name. Same gating as our own.
   */
  async handleProtocol(
    protocol: string,
    handler: (stream: Stream, node: string) => void,
    limits: { maxInboundStreams: number; maxOutboundStreams: number },
  ): Promise<void> {
    await this.libp2p.handle(
      protocol,
      (stream, connection) => {
        const peer = this.allowed.get(connection.remotePeer.toString());
        if (peer === undefined || this.stopped) stream.abort(new Error('not an allowed peer'));
        else handler(stream, peer.node);
      },
      limits,
    );
  }

  /** Opens a `protocol` stream to an admitted member, dialling it if no connection is open. */
  async openStream(node: string, protocol: string, signal: AbortSignal): Promise<Stream> {
    const peer = [...this.allowed.values()].find((p) => p.node === node);
    if (peer === undefined || this.stopped) throw new Error(`catalog: ${node} is not an admitted member`);
    const open = this.libp2p.getConnections(peerIdFromString(peer.peerId)).find((c) => c.status === 'open');
    const conn = open ?? (await this.libp2p.dial(peer.addr, { signal }));
    return conn.newStream(protocol, { signal });
  }

  /**
   * Signs and publishes this node's record. The caller bumps `seq` (or `epoch`) for every change;
   * a record that is not newer than the last one published is refused.
   */
  async publish(record: NodeRecord): Promise<void> {
    if (this.stopped) throw new CatalogPublishError('the catalog node is stopped');
    if (record.node !== this.node) {
      throw new CatalogPublishError(`this agent publishes only its own record (${this.node}), not ${record.node}`);
    }
    if (record.peerId !== this.peerId) {
      throw new CatalogPublishError(`record.peerId must be this agent's peer id ${this.peerId}`);
    }
    if (!this.store.isNewer(record)) {
      const held = this.store.get(record.node)?.record;
      throw new CatalogPublishError(
        `record version (${record.epoch}, ${record.seq}) is not newer than the published (${held?.epoch}, ${held?.seq}); bump seq`,
      );
    }
    let signed: SignedRecord;
    try {
      signed = await signRecord(record, this.privateKey);
    } catch (err) {
      throw new CatalogPublishError(`cannot publish: ${(err as Error).message}`);
    }
    // isNewer was checked before the await; re-check so concurrent publishes cannot go backwards.
    const result = this.store.merge(signed);
    if (!result.changed) throw new CatalogPublishError('a newer record was published concurrently');
    this.emitChange({ record: signed.record, previous: result.previous, source: 'local' });
    try {
      await this.libp2p.services.pubsub.publish(CATALOG_TOPIC, signed.envelope);
      this.counters.published++;
    } catch (err) {
      // Stored anyway: anti-entropy hands it out.
      this.counters.publishErrors++;
      this.log.warn({ err }, 'catalog: gossip publish failed; anti-entropy will deliver the record');
    }
  }

  /** The newest record held for a node. */
  get(node: string): NodeRecord | undefined {
    return this.store.get(node)?.record;
  }

  /** Every record held, own included. */
  records(): NodeRecord[] {
    return [...this.store.values()].map((s) => s.record);
  }

  /** Drops a node's record (e.g. when membership reaps the member). Returns whether one was held. */
  forget(node: string): boolean {
    if (node === this.node) return false;
    return this.store.delete(node) !== undefined;
  }

  /**
   * The members to be connected to (the alive members, self excluded or not). Dials those not
   * connected, hangs up on connected peers no longer listed, and gates everyone else out.
   */
  setPeers(peers: readonly CatalogPeer[]): void {
    if (this.stopped) return;
    const next = new Map<string, AllowedPeer>();
    const byNode = new Map<string, string>();
    let added = false;
    for (const peer of peers) {
      if (peer.peerId === this.peerId) continue;
      // Called on every membership event: reuse what is unchanged rather than re-parse and re-hash.
      const known = this.allowed.get(peer.peerId);
      if (known !== undefined && known.node === peer.node && known.advertised === peer.multiaddr) {
        next.set(peer.peerId, known);
        byNode.set(peer.node, peer.peerId);
        continue;
      }
      let addr: Multiaddr;
      try {
        addr = dialMultiaddr(peer.multiaddr, peer.peerId);
      } catch (err) {
        this.log.warn(
          { node: peer.node, addr: peer.multiaddr, err: (err as Error).message },
          'catalog: bad peer address',
        );
        continue;
      }
      added ||= known === undefined;
      const rank = pairRank(this.peerId, peer.peerId);
      next.set(peer.peerId, { node: peer.node, peerId: peer.peerId, advertised: peer.multiaddr, addr, rank });
      byNode.set(peer.node, peer.peerId);
    }
    const gone = [...this.allowed.keys()].filter((id) => !next.has(id));
    if (added) {
      this.lastPeerAddedAt = Date.now();
      this.growingSince ??= this.lastPeerAddedAt;
    }
    this.allowed = next;
    this.peerIdByNode = byNode;
    for (const id of this.dialState.keys()) if (!next.has(id)) this.dialState.delete(id);
    // Hang up on every connection whose peer is not allowed (left the set, or slipped in earlier).
    const toHangUp = new Set(gone);
    for (const conn of this.libp2p.getConnections()) {
      const id = conn.remotePeer.toString();
      if (!next.has(id)) toHangUp.add(id);
    }
    for (const id of toHangUp) void this.hangUp(id);
    this.redialTick();
  }

  /** Peer ids we hold an open connection to. */
  connectedPeers(): string[] {
    return [...new Set(this.libp2p.getConnections().map((c) => c.remotePeer.toString()))];
  }

  /** Runs one anti-entropy exchange with a connected peer now (also what the timers do). */
  syncWith(peerId: string): Promise<SyncResult> {
    const running = this.syncing.get(peerId);
    if (running) return running;
    const run = this.runSync(peerId).finally(() => this.syncing.delete(peerId));
    this.syncing.set(peerId, run);
    return run;
  }

  stats(): CatalogStats {
    const c = this.counters;
    return {
      records: this.store.size,
      connectedPeers: this.stopped ? 0 : this.connectedPeers().length,
      gossipPeers: this.stopped ? 0 : this.libp2p.services.pubsub.getSubscribers(CATALOG_TOPIC).length,
      allowedPeers: this.allowed.size,
      published: c.published,
      publishErrors: c.publishErrors,
      accepted: { gossip: c.acceptedGossip, sync: c.acceptedSync },
      stale: c.stale,
      rejected: { ...this.rejected },
      syncRuns: c.syncRuns,
      syncFailures: c.syncFailures,
      syncMalformed: c.syncMalformed,
      syncRecordsSent: c.syncRecordsSent,
      syncRecordsReceived: c.syncRecordsReceived,
      dials: c.dials,
      dialFailures: c.dialFailures,
      hangUps: c.hangUps,
    };
  }

  /** Closes every connection, listener and timer. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    clearTimeout(this.settleTimer);
    this.libp2p.removeEventListener('peer:connect', this.onPeerConnect);
    this.libp2p.removeEventListener('peer:disconnect', this.onPeerDisconnect);
    this.libp2p.services.pubsub.removeEventListener('subscription-change', this.onSubscriptionChange);
    this.allowed = new Map();
    await this.libp2p.stop();
    await Promise.allSettled([...this.syncing.values()]);
    this.removeAllListeners();
  }

  // ---- receiving records ---------------------------------------------------------------------

  /** The gossipsub topic validator: Accept forwards and delivers, Ignore drops, Reject also penalises. */
  private async validateGossip(msg: Message): Promise<TopicValidatorResult> {
    if (msg.type !== 'signed') return TopicValidatorResult.Reject; // StrictSign makes this unreachable
    let signed: SignedRecord;
    try {
      signed = decodeEnvelope(msg.data);
      // Gossip path: the StrictSign publisher must be the node's own peer, not a relay of it.
      const expected = this.peerIdOf(signed.record.node);
      if (expected !== undefined && msg.from.toString() !== expected) {
        throw new RecordError(
          'wrong-signer',
          `record for ${signed.record.node} published by ${msg.from.toString()}, membership holds ${expected}`,
        );
      }
      await verifyEnvelope(signed, expected);
    } catch (err) {
      const reason = this.reject(err, 'gossip', msg.from.toString());
      return reason === 'unknown-node' ? TopicValidatorResult.Ignore : TopicValidatorResult.Reject;
    }
    return this.apply(signed, 'gossip') ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore;
  }

  /** Sync path: the same check, minus msg.from (the record may come from any peer holding it). */
  private async acceptSynced(signed: SignedRecord, from: string): Promise<boolean> {
    if (signed.record.node === this.node) {
      this.counters.stale++; // our own record is authored here, never taken from others
      return false;
    }
    if (!this.store.isNewer(signed.record)) {
      this.counters.stale++;
      return false;
    }
    try {
      await verifyEnvelope(signed, this.peerIdOf(signed.record.node));
    } catch (err) {
      this.reject(err, 'sync', from);
      return false;
    }
    return this.apply(signed, 'sync');
  }

  private apply(signed: SignedRecord, source: 'gossip' | 'sync'): boolean {
    if (this.stopped || signed.record.node === this.node) return false;
    const result = this.store.merge(signed);
    if (!result.changed) {
      if (result.reason === 'full') {
        this.log.warn({ node: signed.record.node, max: this.opts.maxNodes }, 'catalog: record store full');
      } else {
        this.counters.stale++;
      }
      return false;
    }
    if (source === 'gossip') this.counters.acceptedGossip++;
    else this.counters.acceptedSync++;
    this.emitChange({ record: signed.record, previous: result.previous, source });
    return true;
  }

  /** A listener's exception must not turn into a gossip verdict or abort a sync exchange. */
  private emitChange(change: RecordChange): void {
    try {
      this.emit('record', change);
    } catch (err) {
      this.log.error({ err, node: change.record.node }, 'catalog: a record listener threw');
    }
  }

  private reject(err: unknown, path: 'gossip' | 'sync', from: string): RecordRejection {
    if (!(err instanceof RecordError)) {
      this.log.error({ err, path, from }, 'catalog: unexpected error checking a record');
      this.rejected.malformed++;
      return 'malformed';
    }
    this.rejected[err.reason]++;
    // A record from a node membership does not know yet is normal during joins: anti-entropy
    // retries once membership catches up. Everything else is worth a (rate-limited) warning.
    if (err.reason === 'unknown-node') {
      this.log.debug({ path, from, reason: err.reason }, `catalog: record dropped: ${err.message}`);
      return err.reason;
    }
    const now = Date.now();
    const last = this.lastRejectionLog.get(err.reason);
    if (last && now - last.at < REJECTION_LOG_INTERVAL_MS) {
      last.suppressed++;
    } else {
      this.log.warn(
        { path, from, reason: err.reason, suppressedSinceLast: last?.suppressed ?? 0 },
        `catalog: record rejected: ${err.message}`,
      );
      this.lastRejectionLog.set(err.reason, { at: now, suppressed: 0 });
    }
    return err.reason;
  }

  // ---- anti-entropy --------------------------------------------------------------------------

  private readonly onPeerConnect = (evt: CustomEvent<PeerId>): void => {
    const id = evt.detail.toString();
    if (!this.allowed.has(id)) {
      void this.hangUp(id);
      return;
    }
    this.dialState.delete(id);
  };

  private readonly onPeerDisconnect = (evt: CustomEvent<PeerId>): void => {
    // Peers we hang up on have left the allowed set first, so they never get here.
    const peer = this.allowed.get(evt.detail.toString());
    if (peer !== undefined && !this.stopped) this.emit('peer-lost', peer.node);
  };

  /**
   * Join sync. It starts when the peer's subscription to the catalog topic arrives, not when the
   * connection opens: from that moment on our publishes reach the peer by gossip, so an exchange
   * started then leaves no window in which a record published meanwhile is missed by both. The
   * dialling side starts it (one exchange per new connection, not two).
   */
  private readonly onSubscriptionChange = (evt: CustomEvent<SubscriptionChangeData>): void => {
    const { peerId, subscriptions } = evt.detail;
    if (!subscriptions.some((s) => s.topic === CATALOG_TOPIC && s.subscribe)) return;
    const id = peerId.toString();
    if (!this.allowed.has(id) || this.stopped) return;
    if (this.libp2p.getConnections(peerId).some((c) => c.direction === 'outbound')) {
      this.syncWith(id).catch(() => {});
    }
  };

  private async runSync(peerId: string): Promise<SyncResult> {
    const peer = this.allowed.get(peerId);
    if (peer === undefined || this.stopped) throw new Error(`catalog: ${peerId} is not an allowed peer`);
    this.counters.syncRuns++;
    const signal = AbortSignal.timeout(this.opts.syncTimeoutMs);
    let stream: Stream | undefined;
    try {
      const conn = this.libp2p.getConnections(peerIdFromString(peerId)).find((c) => c.status === 'open');
      if (conn === undefined) throw new Error(`not connected to ${peerId}`);
      stream = await conn.newStream(SYNC_PROTOCOL, { signal });
      const result = await this.exchange(stream, peerId, signal);
      this.log.debug({ peer: peer.node, ...result }, 'catalog: anti-entropy exchange done');
      return result;
    } catch (err) {
      this.counters.syncFailures++;
      this.log.debug({ peer: peer.node, err: (err as Error).message }, 'catalog: anti-entropy exchange failed');
      throw err;
    }
  }

  private async handleSync(stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString();
    if (!this.allowed.has(from) || this.stopped) {
      stream.abort(new Error('not an allowed peer'));
      return;
    }
    try {
      await this.exchange(stream, from, AbortSignal.timeout(this.opts.syncTimeoutMs));
    } catch (err) {
      this.log.debug({ from, err: (err as Error).message }, 'catalog: inbound anti-entropy exchange failed');
    }
  }

  private async exchange(stream: Stream, peerId: string, signal: AbortSignal): Promise<SyncResult> {
    try {
      const result = await runSyncExchange(
        stream,
        {
          digest: () => this.store.digest(),
          // Only records membership still vouches for (the author's current peer id): a record of
          // a node that has since changed identity would only be rejected on the other side.
          missingFrom: (digest) =>
            this.store
              .missingFrom(digest)
              .filter((s) => s.record.node === this.node || this.peerIdOf(s.record.node) === s.record.peerId),
          accept: (signed) => this.acceptSynced(signed, peerId),
        },
        signal,
        DEFAULT_SYNC_LIMITS,
      );
      this.counters.syncRecordsSent += result.sent;
      this.counters.syncRecordsReceived += result.received;
      return result;
    } catch (err) {
      if ((err as Error).name === 'SyncProtocolError') {
        this.counters.syncMalformed++;
        this.log.warn({ from: peerId, err: (err as Error).message }, 'catalog: anti-entropy stream closed: bad frame');
      }
      throw err;
    }
  }

  private syncTick(): void {
    const candidates = this.connectedPeers().filter((id) => this.allowed.has(id));
    const pick = candidates[Math.floor(Math.random() * candidates.length)];
    if (pick !== undefined) this.syncWith(pick).catch(() => {});
  }

  // ---- connections ---------------------------------------------------------------------------

  /** Dials the allowed peers we should be connected to and are not. */
  private redialTick(): void {
    if (this.stopped) return;
    const now = Date.now();
    // While a join is still teaching us members, hold the dials back. Every agent of a starting
    // cluster learns everyone within a second, and if all of them then open their libp2p
    // connections at once (TCP, pnet, Noise, Yamux, identify, gossipsub, a catalog sync: several
    // ms of CPU per side each), the handshake storm starves the SWIM event loops on a small host:
    // acks come late, Lifeguard backs off, and membership takes seconds longer to converge.
    // Membership first, then the catalog: its connections need the member table anyway.
    if (this.growingSince !== undefined) {
      const quiet = now - this.lastPeerAddedAt >= this.opts.settleMs;
      if (!quiet && now - this.growingSince < MAX_SETTLE_MS) {
        this.settleTimer ??= setTimeout(
          () => {
            this.settleTimer = undefined;
            this.redialTick();
          },
          Math.min(this.lastPeerAddedAt + this.opts.settleMs, this.growingSince + MAX_SETTLE_MS) - now,
        );
        return;
      }
      this.growingSince = undefined;
    }
    const connected = new Set(this.connectedPeers());
    let inFlight = 0;
    for (const state of this.dialState.values()) if (state.inFlight) inFlight++;
    const wanted = [...this.allowed.values()]
      .sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0))
      .slice(0, this.opts.dialDegree);
    for (const peer of wanted) {
      if (connected.has(peer.peerId)) {
        this.dialState.delete(peer.peerId);
        continue;
      }
      let state = this.dialState.get(peer.peerId);
      if (state === undefined) {
        state = { inFlight: false, failures: 0, notBefore: 0, waitingSince: now };
        this.dialState.set(peer.peerId, state);
      }
      if (state.inFlight || now < state.notBefore) continue;
      // Tie-break so a pair that wants each other dials once, not twice: the lower peer id dials
      // at once, the higher one only if no connection has appeared after a redial interval.
      if (this.peerId > peer.peerId && now - state.waitingSince < this.opts.redialIntervalMs) continue;
      if (inFlight >= MAX_CONCURRENT_DIALS) break;
      inFlight++;
      // a finished dial frees a slot: start the next one now rather than on the next tick
      void this.dial(peer, state).finally(() => this.redialTick());
    }
  }

  private async dial(peer: AllowedPeer, state: DialState): Promise<void> {
    state.inFlight = true;
    this.counters.dials++;
    try {
      await this.libp2p.dial(peer.addr, { signal: AbortSignal.timeout(this.opts.dialTimeoutMs) });
      state.failures = 0;
    } catch (err) {
      this.counters.dialFailures++;
      state.failures++;
      state.notBefore = Date.now() + Math.min(MAX_REDIAL_BACKOFF_MS, this.opts.redialIntervalMs * 2 ** state.failures);
      this.log.debug(
        { peer: peer.node, addr: peer.addr.toString(), err: (err as Error).message },
        'catalog: dial failed',
      );
    } finally {
      state.inFlight = false;
    }
  }

  private async hangUp(peerId: string): Promise<void> {
    const peer = peerIdFromString(peerId);
    if (this.libp2p.getConnections(peer).length === 0) return;
    this.counters.hangUps++;
    try {
      await this.libp2p.hangUp(peer);
      await this.libp2p.peerStore.delete(peer);
    } catch (err) {
      this.log.debug({ peer: peerId, err: (err as Error).message }, 'catalog: hang-up failed');
    }
  }

  private schedule(fn: () => void, intervalMs: number, jitter: boolean): void {
    const arm = () => {
      if (this.stopped) return;
      const delay = jitter ? intervalMs * (0.75 + Math.random() * 0.5) : intervalMs;
      const t = setTimeout(() => {
        this.timers.delete(t);
        try {
          fn();
        } finally {
          arm();
        }
      }, delay);
      this.timers.add(t);
    };
    arm();
  }
}

// ---- addresses -------------------------------------------------------------------------------

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

/** Rendezvous rank of a pair: the same on both ends, spread evenly over pairs. */
function pairRank(a: string, b: string): string {
  const [lo, hi] = a < b ? [a, b] : [b, a];
  return createHash('sha256').update(lo).update('\n').update(hi).digest('hex').slice(0, 16);
}
