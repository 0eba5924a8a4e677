// The catalog plane: each agent's signed service record, disseminated by gossip and repaired by
// anti-entropy, over connections the membership plane decides.
//
// Who we talk to is not ours to decide: the membership plane calls setPeers() with the alive
// members, the transport's gate refuses everyone else, and peers that leave the set are hung up
// on. This file wires three parts behind one face: the dial plan (dial-plan.ts, pure), record
// intake (record-intake.ts) and a transport (libp2p-transport.ts in production,
// memory-transport.ts in the simulator).

import { EventEmitter } from 'node:events';
import type { GossipsubOpts } from '@libp2p/gossipsub';
import type { PrivateKey } from '@libp2p/interface';
import type { NodeRecord } from '@vigil/protocol';
import type { HostPort } from '../base/host-port.ts';
import type { Logger } from '../log.ts';
import type { ContentionSource } from '../membership/loop-stall-meter.ts';
import { type Runtime, randomInt, realRuntime, type TimerHandle, timeoutSignal } from '../runtime/index.ts';
import type {
  CatalogTransport,
  CatalogTransportFactory,
  StreamLimits,
  TransportAddress,
  TransportHandlers,
} from './catalog-transport.ts';
import { DialPlan, hangUps, pairRank } from './dial-plan.ts';
import { DialPressure } from './dial-pressure.ts';
import { startLibp2pTransport } from './libp2p-transport.ts';
import type { OpinionUpdate } from './opinion-codec.ts';
import { OpinionIntake } from './opinion-intake.ts';
import type { RecordRejection } from './record-codec.ts';
import { CatalogPublishError, type RecordChange, RecordIntake } from './record-intake.ts';
import { SyncPace } from './sync-pace.ts';
import { DEFAULT_SYNC_LIMITS, runSyncExchange, type SyncResult, type SyncStream } from './sync-protocol.ts';

export { CatalogPublishError, type RecordChange, type RecordSource } from './record-intake.ts';

/** A member the catalog should be connected to: from the membership view (alive members). */
export interface CatalogPeer {
  readonly node: string;
  /** The member's libp2p peer id (its `vigil:peer` tag). */
  readonly peerId: string;
  /** Where its libp2p listens: `HOST:PORT` (its `vigil:p2p` tag) or a multiaddr. */
  readonly multiaddr: string;
}

export interface CatalogEvents {
  record: [RecordChange];
  /** An opinion update changed what a node's record reads as (its `opinions`). */
  opinions: [node: string];
  /**
   * The last connection to a peer that membership still holds alive has closed, not by our
   * choice: a crashed host's kernel resets its connections at once, so this is early evidence
   * (only evidence: a restart or a network blip does the same) that the node may be gone.
   */
  'peer-lost': [node: string];
}

/** Everything but the network. */
export interface CatalogCoreOptions {
  /** This agent's node name: the only node it may publish a record for. */
  readonly node: string;
  /** The persistent Ed25519 node key (data-dir/identity.ts); its peer id is the transport identity. */
  readonly privateKey: PrivateKey;
  /**
   * The peer id membership holds for a node, or undefined when it knows none. Records are accepted
   * only from that peer. Defaults to the node → peer id map of the last setPeers() call.
   */
  readonly peerIdOf?: ((node: string) => string | undefined) | undefined;
  readonly log: Logger;
  /** Anti-entropy with one random connected peer every this many ms (±25 % jitter). Default 10 s. */
  readonly syncIntervalMs?: number;
  /**
   * While exchanges find nothing to repair, the interval doubles up to this (sync-pace.ts); any
   * change brings it back to syncIntervalMs. Default 60 s; syncIntervalMs or less: a fixed pace.
   */
  readonly syncMaxIntervalMs?: number;
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
   * connection costs ~15 ms of CPU to set up, both sides (TCP, pnet, Noise, Yamux, gossipsub), plus
   * a catalog sync, memory, and gossipsub heartbeat work for as long as it lives: at degree 32 a
   * 50-agent cluster starting on a 2-core host spent ~30 s of CPU on handshakes.
   */
  readonly dialDegree?: number;
  readonly dialTimeoutMs?: number;
  /**
   * New peers are dialled once the peer set has stopped growing for this long (or after
   * MAX_SETTLE_MS of steady growth). Default 1 s; see DialPlan.next().
   */
  readonly settleMs?: number;
  /** Most nodes the store keeps records for. Default 4096. */
  readonly maxNodes?: number;
  /**
   * Our loop's contention (membership/loop-contention.ts). While the loop is starved, dials trickle
   * one at a time so their handshakes do not crowd out membership (dial-pressure.ts). Default none:
   * dials never wait.
   */
  readonly loopContention?: ContentionSource | undefined;
  /** Clock, timers and randomness (default realRuntime()). */
  readonly runtime?: Runtime;
}

/** The production catalog: CatalogCoreOptions on libp2p. */
export interface CatalogNodeOptions extends CatalogCoreOptions {
  /** `--p2p HOST:PORT` (port 0 picks a free port; see listenAddresses()). HOST must be an IP. */
  readonly listen: HostPort;
  /**
   * The cluster gossip keys, primary first (the membership keyring). A pnet key is derived from
   * each: we dial with the primary's and accept any, so a live key rotation never splits the mesh
   * (see setGossipKeys). Without keys (development mode) libp2p runs without pnet: any host that
   * reaches the port can connect.
   */
  readonly gossipKeys?: readonly Uint8Array[] | undefined;
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
  /** Opinion updates (opinion-codec.ts): ours published, others' taken, stale, refused by reason. */
  readonly opinionUpdates: {
    readonly published: number;
    readonly accepted: number;
    readonly stale: number;
    /** Updates not yet superseded by their author's record. */
    readonly pending: number;
    readonly rejected: Readonly<Record<RecordRejection, number>>;
  };
  readonly syncRuns: number;
  readonly syncFailures: number;
  /** Exchanges closed because the other side broke the protocol (bad frames, wrong order, too much). */
  readonly syncMalformed: number;
  readonly syncRecordsSent: number;
  readonly syncRecordsReceived: number;
  readonly dials: number;
  readonly dialFailures: number;
  /** Dial decisions that held a wanted dial back because our loop was starved (dial-pressure.ts). */
  readonly dialHolds: number;
  readonly hangUps: number;
}

const DEFAULTS = {
  syncIntervalMs: 10_000,
  syncMaxIntervalMs: 60_000,
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

interface AllowedPeer {
  readonly node: string;
  readonly peerId: string;
  /** The address as membership gave it (CatalogPeer.multiaddr). */
  readonly advertised: string;
  readonly addr: TransportAddress;
  /** Rendezvous rank of the pair (lower = preferred); symmetric, so both ends agree. */
  readonly rank: string;
}

type Settings = Required<
  Omit<CatalogCoreOptions, 'peerIdOf' | 'runtime' | 'privateKey' | 'log' | 'node' | 'loopContention'>
>;

export class CatalogNode extends EventEmitter<CatalogEvents> {
  readonly node: string;
  readonly peerId: string;
  /** True when connections are gated by a cluster key (pnet). */
  readonly privateNetwork: boolean;

  private readonly transport: CatalogTransport;
  private readonly log: Logger;
  private readonly runtime: Runtime;
  private readonly intake: RecordIntake;
  private readonly opinionIntake: OpinionIntake;
  private readonly plan: DialPlan;
  private readonly pressure: DialPressure | undefined;
  private readonly opts: Settings;
  private allowed = new Map<string, AllowedPeer>();
  private peerIdByNode = new Map<string, string>();
  private readonly syncing = new Map<string, Promise<SyncResult>>();
  private readonly timers = new Set<TimerHandle>();
  private stopped = false;
  private settleTimer: TimerHandle | undefined;
  /** The one redial timer, for the earliest peer the plan holds back (see DialPlan.next). */
  private retryTimer: TimerHandle | undefined;
  private retryAt = Number.POSITIVE_INFINITY;
  private syncPace: SyncPace;
  private syncTimer: TimerHandle | undefined;
  private readonly counters = {
    published: 0,
    publishErrors: 0,
    syncRuns: 0,
    syncFailures: 0,
    syncMalformed: 0,
    syncRecordsSent: 0,
    syncRecordsReceived: 0,
    dials: 0,
    dialFailures: 0,
    dialHolds: 0,
    hangUps: 0,
  };

  private constructor(opts: CatalogCoreOptions, transport: CatalogTransport, log: Logger) {
    super();
    this.node = opts.node;
    this.transport = transport;
    this.peerId = transport.peerId;
    this.privateNetwork = transport.privateNetwork;
    this.log = log;
    this.runtime = opts.runtime ?? realRuntime();
    this.opts = {
      syncIntervalMs: opts.syncIntervalMs ?? DEFAULTS.syncIntervalMs,
      syncMaxIntervalMs: opts.syncMaxIntervalMs ?? DEFAULTS.syncMaxIntervalMs,
      syncTimeoutMs: opts.syncTimeoutMs ?? DEFAULTS.syncTimeoutMs,
      redialIntervalMs: opts.redialIntervalMs ?? DEFAULTS.redialIntervalMs,
      dialDegree: opts.dialDegree ?? DEFAULTS.dialDegree,
      dialTimeoutMs: opts.dialTimeoutMs ?? DEFAULTS.dialTimeoutMs,
      settleMs: opts.settleMs ?? DEFAULTS.settleMs,
      maxNodes: opts.maxNodes ?? DEFAULTS.maxNodes,
    };
    this.syncPace = new SyncPace(this.opts.syncIntervalMs, this.opts.syncMaxIntervalMs);
    const peerIdOf = opts.peerIdOf ?? ((node: string) => this.peerIdByNode.get(node));
    this.intake = new RecordIntake({
      node: opts.node,
      peerId: this.peerId,
      privateKey: opts.privateKey,
      peerIdOf,
      maxNodes: this.opts.maxNodes,
      log,
      clock: this.runtime.clock,
      onChange: (change) => {
        this.opinionIntake.recordHeld(change.record);
        this.emitChange(change);
      },
    });
    this.opinionIntake = new OpinionIntake({
      node: opts.node,
      peerIdOf,
      store: this.intake.store,
      log,
      clock: this.runtime.clock,
      onChange: (node) => this.emitOpinions(node),
    });
    this.plan = new DialPlan(this.peerId, {
      dialDegree: this.opts.dialDegree,
      redialIntervalMs: this.opts.redialIntervalMs,
      settleMs: this.opts.settleMs,
      maxSettleMs: MAX_SETTLE_MS,
      maxConcurrentDials: MAX_CONCURRENT_DIALS,
      maxBackoffMs: MAX_REDIAL_BACKOFF_MS,
    });
    this.pressure = opts.loopContention && new DialPressure(opts.loopContention, this.runtime.random);
  }

  /** Creates and starts a libp2p node: listening, subscribed, anti-entropy scheduled. */
  static async start(opts: CatalogNodeOptions): Promise<CatalogNode> {
    const log = opts.log.child({ plane: 'catalog' });
    if ((opts.gossipKeys ?? []).length === 0) {
      log.warn(
        'catalog: no gossip key, so libp2p runs WITHOUT pnet: any host that reaches the p2p port can connect (records are still signed); pass --encrypt KEY',
      );
    }
    const node = await CatalogNode.over(opts, (handlers) =>
      startLibp2pTransport(
        {
          privateKey: opts.privateKey,
          listen: opts.listen,
          gossipKeys: opts.gossipKeys,
          dialTimeoutMs: opts.dialTimeoutMs ?? DEFAULTS.dialTimeoutMs,
          gossipsub: opts.gossipsub,
        },
        handlers,
      ),
    );
    log.info(
      { peerId: node.peerId, listen: node.listenAddresses(), pnet: node.privateNetwork },
      'catalog: libp2p node started',
    );
    return node;
  }

  /** Creates and starts a node over any transport (the simulator's in-memory one, for example). */
  static async over(opts: CatalogCoreOptions, transport: CatalogTransportFactory): Promise<CatalogNode> {
    const log = opts.log.child({ plane: 'catalog' });
    // The transport's gate consults the node, which exists only once the transport does.
    let self: CatalogNode | undefined;
    const handlers: TransportHandlers = {
      isAllowed: (peerId) => self?.allowed.has(peerId) ?? false,
      onGossip: async (data, from, topic) => {
        const verdict =
          (await (topic === 'opinions'
            ? self?.opinionIntake.fromGossip(data, from)
            : self?.intake.fromGossip(data, from))) ?? 'ignore';
        if (verdict === 'accept') self?.syncPaceChanged();
        return verdict;
      },
      onConnect: (peerId) => self?.onConnect(peerId),
      onDisconnect: (peerId) => self?.onDisconnect(peerId),
      onSubscribed: (peerId) => self?.onSubscribed(peerId),
      onSyncStream: (stream, from) => {
        if (self) void self.handleSync(stream, from);
        else stream.abort(new Error('not started'));
      },
    };
    const node = new CatalogNode(opts, await transport(handlers), log);
    self = node;
    node.armSync();
    return node;
  }

  // ---- public API ----------------------------------------------------------------------------

  /**
   * Follows a gossip key rotation: new connections are dialled under the new primary's pnet key
   * and accepted under any installed key's. Open connections stay as they are. Ignored without pnet
   * (a development-mode node cannot start gating connections at run time).
   */
  setGossipKeys(keys: readonly Uint8Array[]): void {
    this.transport.setGossipKeys(keys);
  }

  /** The bound listen addresses, each ending in /p2p/<peerId>. */
  listenAddresses(): string[] {
    return this.transport.listenAddresses();
  }

  /** The bound TCP port (useful when listening on port 0). */
  listenPort(): number {
    return this.transport.listenPort();
  }

  /**
   * Lends the catalog's connections to another plane (elections): `handler` gets inbound streams
   * of `protocol` from admitted members only, with the member's node name. Same gating as our own.
   */
  async handleProtocol(
    protocol: string,
    handler: (stream: SyncStream, node: string) => void,
    limits: StreamLimits,
  ): Promise<void> {
    await this.transport.handleProtocol(
      protocol,
      (stream, peerId) => {
        const peer = this.allowed.get(peerId);
        if (peer === undefined || this.stopped) stream.abort(new Error('not an allowed peer'));
        else handler(stream, peer.node);
      },
      limits,
    );
  }

  /** Opens a `protocol` stream to an admitted member, dialling it if no connection is open. */
  async openStream(node: string, protocol: string, signal: AbortSignal): Promise<SyncStream> {
    const peer = [...this.allowed.values()].find((p) => p.node === node);
    if (peer === undefined || this.stopped) throw new Error(`catalog: ${node} is not an admitted member`);
    return this.transport.openStream(peer.peerId, peer.addr, protocol, signal);
  }

  /**
   * Signs and publishes this node's record. The caller bumps `seq` (or `epoch`) for every change;
   * a record that is not newer than the last one published is refused.
   */
  async publish(record: NodeRecord): Promise<void> {
    if (this.stopped) throw new CatalogPublishError('the catalog node is stopped');
    const signed = await this.intake.signLocal(record);
    this.syncPaceChanged();
    try {
      await this.transport.publish('records', signed.envelope);
      this.counters.published++;
    } catch (err) {
      // Stored anyway: anti-entropy hands it out.
      this.counters.publishErrors++;
      this.log.warn({ err }, 'catalog: gossip publish failed; anti-entropy will deliver the record');
    }
  }

  /**
   * Publishes changed opinions ahead of the record (opinion-codec.ts). `(epoch, seq)` come from the
   * record's counter: the caller's next record must be newer, and must carry these opinions (it is
   * their repair path: a lost update is healed when the record arrives).
   */
  async publishOpinions(update: Omit<OpinionUpdate, 'node'>): Promise<void> {
    if (this.stopped) throw new CatalogPublishError('the catalog node is stopped');
    let bytes: Uint8Array;
    try {
      bytes = this.opinionIntake.local(update);
    } catch (err) {
      throw new CatalogPublishError(`cannot publish opinions: ${(err as Error).message}`);
    }
    try {
      await this.transport.publish('opinions', bytes);
    } catch (err) {
      this.counters.publishErrors++;
      this.log.warn({ err }, 'catalog: opinion publish failed; the next record carries them');
    }
  }

  /** The newest record held for a node, with newer opinion updates applied. */
  get(node: string): NodeRecord | undefined {
    const held = this.intake.store.get(node)?.record;
    return held === undefined ? undefined : this.opinionIntake.merge(held);
  }

  /** Every record held, own included, with newer opinion updates applied. */
  records(): NodeRecord[] {
    return [...this.intake.store.values()].map((s) => this.opinionIntake.merge(s.record));
  }

  /** Drops a node's record (e.g. when membership reaps the member). Returns whether one was held. */
  forget(node: string): boolean {
    if (node === this.node) return false;
    this.opinionIntake.forget(node);
    return this.intake.store.delete(node) !== undefined;
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
      let addr: TransportAddress;
      try {
        addr = this.transport.resolve(peer.multiaddr, peer.peerId);
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
    const before = this.allowed.keys();
    const allowedIds = new Set(next.keys());
    const removed = [...this.allowed.keys()].some((id) => !allowedIds.has(id));
    const toHangUp = hangUps(before, allowedIds, this.transport.connectedPeers());
    this.allowed = next;
    this.peerIdByNode = byNode;
    this.plan.peersChanged(allowedIds, added, this.runtime.clock.now());
    if (added || removed) this.syncPaceChanged();
    for (const id of toHangUp) void this.hangUp(id);
    this.redialTick();
  }

  /** Peer ids we hold an open connection to. */
  connectedPeers(): string[] {
    return this.transport.connectedPeers();
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
    const i = this.intake.counts;
    return {
      records: this.intake.store.size,
      connectedPeers: this.stopped ? 0 : this.connectedPeers().length,
      gossipPeers: this.stopped ? 0 : this.transport.gossipPeerCount(),
      allowedPeers: this.allowed.size,
      published: c.published,
      publishErrors: c.publishErrors,
      accepted: { gossip: i.acceptedGossip, sync: i.acceptedSync },
      stale: i.stale,
      rejected: { ...this.intake.rejected },
      opinionUpdates: {
        ...this.opinionIntake.counts,
        pending: this.opinionIntake.pending,
        rejected: { ...this.opinionIntake.rejected },
      },
      syncRuns: c.syncRuns,
      syncFailures: c.syncFailures,
      syncMalformed: c.syncMalformed,
      syncRecordsSent: c.syncRecordsSent,
      syncRecordsReceived: c.syncRecordsReceived,
      dials: c.dials,
      dialHolds: c.dialHolds,
      dialFailures: c.dialFailures,
      hangUps: c.hangUps,
    };
  }

  /** Closes every connection, listener and timer. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.intake.close();
    for (const t of this.timers) t.cancel();
    this.timers.clear();
    this.settleTimer?.cancel();
    this.retryTimer?.cancel();
    this.allowed = new Map();
    await this.transport.stop();
    await Promise.allSettled([...this.syncing.values()]);
    this.removeAllListeners();
  }

  // ---- events from the transport -------------------------------------------------------------

  /** A listener's exception must not turn into a gossip verdict or abort a sync exchange. */
  private emitChange(change: RecordChange): void {
    try {
      this.emit('record', change);
    } catch (err) {
      this.log.error({ err, node: change.record.node }, 'catalog: a record listener threw');
    }
  }

  private emitOpinions(node: string): void {
    try {
      this.emit('opinions', node);
    } catch (err) {
      this.log.error({ err, node }, 'catalog: an opinions listener threw');
    }
  }

  private onConnect(peerId: string): void {
    if (!this.allowed.has(peerId)) {
      void this.hangUp(peerId);
      return;
    }
    this.plan.connected(peerId);
  }

  private onDisconnect(peerId: string): void {
    // Peers we hang up on have left the allowed set first, so they never get here.
    const peer = this.allowed.get(peerId);
    if (peer === undefined || this.stopped) return;
    this.emit('peer-lost', peer.node);
    // Dial it again if it is still one we want (no periodic redial does it for us).
    this.redialTick();
  }

  /**
   * Join sync. It starts when the peer's subscription to the catalog topic arrives, not when the
   * connection opens: from that moment on our publishes reach the peer by gossip, so an exchange
   * started then leaves no window in which a record published meanwhile is missed by both. The
   * dialling side starts it (one exchange per new connection, not two).
   */
  private onSubscribed(peerId: string): void {
    if (!this.allowed.has(peerId) || this.stopped) return;
    if (this.transport.dialledTo(peerId)) this.syncWith(peerId).catch(() => {});
  }

  // ---- anti-entropy --------------------------------------------------------------------------

  private async runSync(peerId: string): Promise<SyncResult> {
    const peer = this.allowed.get(peerId);
    if (peer === undefined || this.stopped) throw new Error(`catalog: ${peerId} is not an allowed peer`);
    this.counters.syncRuns++;
    const deadline = timeoutSignal(this.runtime.timers, this.opts.syncTimeoutMs);
    try {
      const stream = await this.transport.openSync(peerId, deadline.signal);
      const result = await this.exchange(stream, peerId, deadline.signal);
      if (result.sent + result.received > 0) this.syncPaceChanged();
      else this.syncPace.agreed();
      this.log.debug({ peer: peer.node, ...result }, 'catalog: anti-entropy exchange done');
      return result;
    } catch (err) {
      this.counters.syncFailures++;
      this.log.debug({ peer: peer.node, err: (err as Error).message }, 'catalog: anti-entropy exchange failed');
      throw err;
    } finally {
      deadline.done();
    }
  }

  private async handleSync(stream: SyncStream, from: string): Promise<void> {
    if (!this.allowed.has(from) || this.stopped) {
      stream.abort(new Error('not an allowed peer'));
      return;
    }
    const deadline = timeoutSignal(this.runtime.timers, this.opts.syncTimeoutMs);
    try {
      const result = await this.exchange(stream, from, deadline.signal);
      if (result.sent + result.received > 0) this.syncPaceChanged();
    } catch (err) {
      this.log.debug({ from, err: (err as Error).message }, 'catalog: inbound anti-entropy exchange failed');
    } finally {
      deadline.done();
    }
  }

  private async exchange(stream: SyncStream, peerId: string, signal: AbortSignal): Promise<SyncResult> {
    try {
      const result = await runSyncExchange(
        stream,
        {
          digest: () => this.intake.store.digest(),
          missingFrom: (digest) => this.intake.missingFrom(digest),
          accept: (signed) => this.intake.fromSync(signed, peerId),
          refused: (err) => this.intake.refused(err, peerId),
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

  /** Arms the next periodic exchange at the current pace (±25 % jitter), replacing a pending one. */
  private armSync(): void {
    if (this.stopped) return;
    if (this.syncTimer) {
      this.syncTimer.cancel();
      this.timers.delete(this.syncTimer);
    }
    const delay = this.syncPace.intervalMs * (0.75 + this.runtime.random.next() * 0.5);
    const t = this.runtime.timers.after(delay, () => {
      this.timers.delete(t);
      this.syncTimer = undefined;
      try {
        this.syncTick();
      } finally {
        this.armSync();
      }
    });
    this.syncTimer = t;
    this.timers.add(t);
  }

  /** A change anywhere: anti-entropy returns to its base pace, now rather than after a long wait. */
  private syncPaceChanged(): void {
    if (this.syncPace.changed()) this.armSync();
  }

  private syncTick(): void {
    const candidates = this.connectedPeers().filter((id) => this.allowed.has(id));
    const pick = candidates[randomInt(this.runtime.random, candidates.length)];
    if (pick !== undefined) this.syncWith(pick).catch(() => {});
  }

  // ---- connections ---------------------------------------------------------------------------

  /** Dials the allowed peers we should be connected to and are not (see DialPlan). */
  private redialTick(): void {
    if (this.stopped) return;
    const now = this.runtime.clock.now();
    this.pressure?.measure(now);
    const allowance = this.pressure?.allowance(now);
    const step = this.plan.next(this.allowed.values(), new Set(this.connectedPeers()), now, allowance?.maxInFlight);
    if (step.kind === 'settle') {
      this.settleTimer ??= this.runtime.timers.after(step.at - now, () => {
        this.settleTimer = undefined;
        this.redialTick();
      });
      return;
    }
    // a finished dial frees a slot: start the next one now rather than on the next tick
    for (const peer of step.peers) {
      this.pressure?.started(now);
      void this.dial(peer).finally(() => this.redialTick());
    }
    let retryAt = step.retryAt;
    if (step.limited) {
      this.counters.dialHolds++;
      if (allowance?.recheckAt !== undefined)
        retryAt = Math.min(retryAt ?? Number.POSITIVE_INFINITY, allowance.recheckAt);
    }
    // Only a peer held back needs a timer: an idle, fully connected agent arms none.
    if (retryAt !== undefined && (this.retryTimer === undefined || retryAt < this.retryAt)) {
      this.retryTimer?.cancel();
      this.retryAt = retryAt;
      this.retryTimer = this.runtime.timers.after(retryAt - now, () => {
        this.retryTimer = undefined;
        this.retryAt = Number.POSITIVE_INFINITY;
        this.redialTick();
      });
    }
  }

  private async dial(peer: AllowedPeer): Promise<void> {
    this.counters.dials++;
    const deadline = timeoutSignal(this.runtime.timers, this.opts.dialTimeoutMs);
    try {
      await this.transport.dial(peer.addr, deadline.signal);
      this.plan.dialDone(peer.peerId, true, this.runtime.clock.now());
    } catch (err) {
      this.counters.dialFailures++;
      this.plan.dialDone(peer.peerId, false, this.runtime.clock.now());
      this.log.debug(
        { peer: peer.node, addr: peer.addr.toString(), err: (err as Error).message },
        'catalog: dial failed',
      );
    } finally {
      deadline.done();
    }
  }

  private async hangUp(peerId: string): Promise<void> {
    try {
      if (await this.transport.hangUp(peerId)) this.counters.hangUps++;
    } catch (err) {
      this.counters.hangUps++;
      this.log.debug({ peer: peerId, err: (err as Error).message }, 'catalog: hang-up failed');
    }
  }
}
