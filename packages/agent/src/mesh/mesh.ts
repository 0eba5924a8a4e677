import { type EndpointOpinion, META_P2P_ADDR, META_PEER_ID, type NodeRecord } from '@vigil/protocol';
import { compareStrings } from '../base/compare.ts';
import type { CatalogPeer, RecordChange } from '../catalog/index.ts';
import type { ChangeFeed } from '../events/change-feed.ts';
import type { Logger } from '../log.ts';
import { type MemberInfo, memberTags } from '../membership/membership-service.ts';
import { isLive, type MembershipEvent } from '../membership/swim-engine.ts';
import { HealthFlaps } from '../outlier/health-flaps.ts';
import { type Observation, type OutlierOptions, OutlierPlane, type OutlierVerdict } from '../outlier/index.ts';
import { computeRouting, diffTables, type RoutingTable } from '../routing/index.ts';
import { type Runtime, realRuntime, type TimerHandle } from '../runtime/index.ts';
import { type LocalService, localRecord } from './local-record.ts';

/** What the mesh reads from membership (MembershipService in the agent, a simulated view in node-sim). */
export interface MeshMembership {
  /** Every known member, sorted by name. */
  members(): readonly MemberInfo[];
  on(event: 'event', listener: (e: MembershipEvent) => void): unknown;
  off(event: 'event', listener: (e: MembershipEvent) => void): unknown;
  /** Probes a member out of turn (a hint; may do nothing). */
  probeNow(name: string): boolean;
}

/** What the mesh needs of the catalog (CatalogNode). */
export interface MeshCatalog {
  readonly peerId: string;
  publish(record: NodeRecord): Promise<void>;
  /** Changed opinions ahead of the record; (epoch, seq) from the record's counter. */
  publishOpinions(update: { epoch: number; seq: number; opinions: readonly EndpointOpinion[] }): Promise<void>;
  setPeers(peers: readonly CatalogPeer[]): void;
  get(node: string): NodeRecord | undefined;
  records(): NodeRecord[];
  /** Drops a node's record; returns whether one was held. */
  forget(node: string): boolean;
  on(event: 'record', listener: (change: RecordChange) => void): unknown;
  on(event: 'peer-lost' | 'opinions', listener: (node: string) => void): unknown;
  off(event: 'record', listener: (change: RecordChange) => void): unknown;
  off(event: 'peer-lost' | 'opinions', listener: (node: string) => void): unknown;
}

/** This host's services and their health (ServiceRegistry). */
export interface MeshServices {
  subscribe(listener: () => void): () => void;
  listServices(): readonly LocalService[];
}

export interface MeshOptions {
  readonly node: string;
  readonly zone: string;
  /** Address filled in for services registered without one. */
  readonly nodeAddress: string;
  readonly catalog: MeshCatalog;
  readonly membership: MeshMembership;
  readonly registry: MeshServices;
  readonly feed: ChangeFeed;
  readonly log: Logger;
  readonly failbackHoldDownMs: number;
  readonly panicThreshold: number;
  /** Clock and timers (default realRuntime()). */
  readonly runtime?: Runtime;
  /** Collective outlier detection settings (src/outlier/defaults.ts). */
  readonly outlier?: Partial<OutlierOptions>;
}

type ElectionPart = Pick<NodeRecord, 'leads' | 'locks' | 'bootstraps'>;

/** Serve routes anyway once this long has passed since the join, even if some member's record is missing. */
const SYNC_GRACE_MS = 10_000;

/**
 * Where the planes meet: local health becomes this node's catalog record; membership decides whom
 * the catalog talks to; membership and catalog together feed the pure routing function, whose
 * changes go out on the change feed. Everything here is glue: the decisions live in the planes.
 */
export class Mesh {
  private readonly opts: MeshOptions;
  private readonly runtime: Runtime;
  /**
   * Boot time: every record of this life beats every record of the previous one. Wall time, since
   * it must outlast the process (a monotonic clock restarts near zero).
   */
  private readonly epoch: number;
  private seq = 0;
  private current: readonly RoutingTable[] = [];
  private publishQueued = false;
  private publishing: Promise<void> = Promise.resolve();
  private recomputeQueued = false;
  /**
   * Whether routing's inputs other than the ejections changed since the tables were computed:
   * members, the records' non-opinion parts, time (an evaluation timer). An opinion alone changes
   * routing only through the verdict, and computeRouting (+ the table diff) costs ~10x the verdict
   * with 20 services: every opinion update or record reaching every agent paid it.
   */
  private routingDirty = true;
  private routedEjections = '';
  private routingNextEvaluation: number | null = null;
  private memberSyncQueued: TimerHandle | undefined;
  private evaluationTimer: TimerHandle | undefined;
  private readonly unsubscribe: (() => void)[] = [];
  private stopped = false;
  private joinedAt: number | undefined;
  private synced = false;
  private draining = false;
  private readonly healthFlaps = new HealthFlaps();
  /** This host's opinions (published in its record) and the mesh-wide verdict. */
  readonly outlier: OutlierPlane;
  private electionPart: (() => ElectionPart) | undefined;

  constructor(opts: MeshOptions) {
    this.opts = opts;
    this.runtime = opts.runtime ?? realRuntime();
    this.outlier = new OutlierPlane({
      runtime: this.runtime,
      options: opts.outlier,
      panicThreshold: opts.panicThreshold,
      publish: () => this.schedulePublish(),
      publishOpinions: (opinions) => this.publishOpinions(opinions),
    });
    this.epoch = Math.floor(this.runtime.clock.wallNow());
    const { membership, registry, catalog } = opts;
    this.unsubscribe.push(registry.subscribe(() => this.schedulePublish()));
    // A join or a push/pull delivers dozens of member changes, one packet each; a zero timer runs
    // after every datagram read in this turn of the loop, so a burst costs one pass, not dozens.
    const onMember = () => {
      if (this.memberSyncQueued || this.stopped) return;
      this.memberSyncQueued = this.runtime.timers.after(0, () => {
        this.memberSyncQueued = undefined;
        if (this.stopped) return;
        const members = this.opts.membership.members();
        this.updatePeers(members);
        this.forgetReaped(members);
        this.routingDirty = true;
        this.recompute(members);
      });
    };
    membership.on('event', onMember);
    this.unsubscribe.push(() => membership.off('event', onMember));
    const onRecord = ({ record, previous }: RecordChange) => {
      // Catalog readers (Consul's blocking health queries) wake on every record, even when the
      // routing tables come out the same (a tag or a warning changed).
      opts.feed.publish('catalog', { node: record.node, epoch: record.epoch, seq: record.seq });
      if (previous === undefined || !sameBesideOpinions(previous, record)) this.routingDirty = true;
      this.scheduleRecompute();
    };
    catalog.on('record', onRecord);
    this.unsubscribe.push(() => catalog.off('record', onRecord));
    const onOpinions = () => this.scheduleRecompute();
    catalog.on('opinions', onOpinions);
    this.unsubscribe.push(() => catalog.off('opinions', onOpinions));
    // A dropped catalog connection is a hint that SWIM checks at once, so a crash is suspected
    // (and, with confirmations, demoted) within about a probe interval, not whenever the node's
    // turn in some prober's round-robin comes.
    const onPeerLost = (node: string) => membership.probeNow(node);
    catalog.on('peer-lost', onPeerLost);
    this.unsubscribe.push(() => catalog.off('peer-lost', onPeerLost));
    this.updatePeers(membership.members());
    this.schedulePublish();
  }

  /** The start-up join has finished (successfully or not): from here on, membership is known. */
  markJoined(): void {
    this.joinedAt ??= this.runtime.clock.now();
  }

  /**
   * Whether our tables reflect the cluster: after the start-up join, once we hold a record from
   * every live member (or the grace time has passed). Until then a restarted agent would serve
   * tables with its peers' services missing, and clients would drop routes they still need.
   */
  isSynced(): boolean {
    if (this.synced) return true;
    if (this.joinedAt === undefined) return false;
    const complete = this.opts.membership
      .members()
      .every(
        (m) =>
          m.name === this.opts.node ||
          !isLive(m) ||
          !m.tags[META_PEER_ID] ||
          this.opts.catalog.get(m.name) !== undefined,
      );
    if (complete || this.runtime.clock.now() - this.joinedAt > SYNC_GRACE_MS) {
      if (!complete) this.opts.log.warn('catalog: serving routes without a record from every member');
      this.synced = true;
    }
    return this.synced;
  }

  /** The routing tables, one per service, sorted by service name. */
  tables(): readonly RoutingTable[] {
    return this.current;
  }

  table(service: string): RoutingTable | undefined {
    return this.current.find((t) => t.service === service);
  }

  records(): NodeRecord[] {
    return this.opts.catalog.records();
  }

  /** Outcomes reported by a local client (POST /v1/agent/observations); returns how many were taken. */
  observe(batch: readonly Observation[]): number {
    return this.outlier.report(batch);
  }

  /**
   * Draining before a graceful leave: publishes every local instance in maintenance (every agent's
   * routing drops it, so new traffic stops), then waits up to `boundMs` for the requests in flight
   * to finish before the caller removes the node. Returns at once when there is nothing to drain.
   */
  async drain(boundMs: number): Promise<boolean> {
    if (this.stopped || this.opts.registry.listServices().every((s) => s.health === 'maintenance')) return false;
    this.draining = true;
    this.schedulePublish();
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    await this.publishing;
    if (boundMs > 0) await new Promise<void>((resolve) => this.runtime.timers.after(boundMs, resolve));
    return true;
  }

  /** This host's opinions (its record leaves out the silent ones: OutlierPlane.recordOpinions()). */
  opinions(): readonly EndpointOpinion[] {
    return this.outlier.opinions();
  }

  /** The outlier verdict the current tables were computed with. */
  verdict(): OutlierVerdict {
    return this.outlier.verdict();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.outlier.stop();
    this.evaluationTimer?.cancel();
    this.memberSyncQueued?.cancel();
    for (const off of this.unsubscribe) off();
    await this.publishing;
  }

  /** The election plane's part of this node's record; republished on `republish()`. */
  setElectionPart(part: () => ElectionPart): void {
    this.electionPart = part;
    this.schedulePublish();
  }

  /** Publishes this node's record again (the election plane's part changed). */
  republish(): void {
    this.schedulePublish();
  }

  /**
   * Changed opinions go out at once as an update, ahead of the record (the outlier plane has it
   * follow). Same counter as the records: the next record is newer and supersedes the update.
   */
  private publishOpinions(opinions: readonly EndpointOpinion[]): void {
    if (this.stopped) return;
    this.opts.catalog
      .publishOpinions({ epoch: this.epoch, seq: ++this.seq, opinions })
      .catch((err: unknown) => this.opts.log.error({ err }, 'cannot publish opinion update'));
  }

  /** Coalesces a burst of local health events (same tick) into one record. */
  private schedulePublish(): void {
    if (this.publishQueued || this.stopped) return;
    this.publishQueued = true;
    queueMicrotask(() => {
      this.publishQueued = false;
      // This record carries every opinion that counts: the outlier plane's own is no longer owed.
      this.outlier.recordPublished();
      const opinions = this.outlier.recordOpinions();
      const own = localRecord({
        node: this.opts.node,
        peerId: this.opts.catalog.peerId,
        epoch: this.epoch,
        seq: ++this.seq,
        nodeAddress: this.opts.nodeAddress,
        services: this.draining
          ? this.opts.registry.listServices().map((s) => ({ ...s, health: 'maintenance' as const }))
          : this.opts.registry.listServices(),
        elections: this.electionPart?.(),
      });
      // Health flips ride on the instances, for flap damping on every agent (outlier/damping.ts).
      const flaps = this.healthFlaps.note(
        own.instances.map((i) => ({ id: i.id, critical: i.health === 'critical' && !i.maintenance })),
        this.runtime.clock.wallNow(),
      );
      const instances = own.instances.map((i) => {
        const f = flaps.get(i.id);
        return f && f.length > 0 ? { ...i, flaps: f } : i;
      });
      const record: NodeRecord = opinions.length > 0 ? { ...own, instances, opinions } : { ...own, instances };
      this.publishing = this.publishing
        .then(() => this.opts.catalog.publish(record))
        .catch((err: unknown) => this.opts.log.error({ err }, 'cannot publish the local catalog record'))
        .finally(() => this.scheduleRecompute());
    });
  }

  /** Live members with a libp2p identity are the catalog's peers; the dead and the left are hung up on. */
  private updatePeers(members: readonly MemberInfo[]): void {
    const peers: CatalogPeer[] = [];
    for (const m of members) {
      if (m.name === this.opts.node || !isLive(m)) continue;
      const peerId = m.tags[META_PEER_ID];
      const multiaddr = m.tags[META_P2P_ADDR];
      if (peerId && multiaddr) peers.push({ node: m.name, peerId, multiaddr });
    }
    this.opts.catalog.setPeers(peers);
  }

  /**
   * Records of nodes membership no longer knows at all (reaped: dead past the reconnect timeout,
   * left past the tombstone time) are dropped; otherwise hosts that come and go under new names
   * fill the store (maxNodes) and new nodes are refused. Safe: routing ignores unknown nodes, the
   * intake refuses a record of a node membership does not know (an old copy cannot come back), and
   * a node that rejoins publishes its record again.
   */
  private forgetReaped(members: readonly MemberInfo[]): void {
    const known = new Set(members.map((m) => m.name));
    for (const record of this.opts.catalog.records()) {
      if (record.node !== this.opts.node && !known.has(record.node)) this.opts.catalog.forget(record.node);
    }
  }

  private scheduleRecompute(): void {
    if (this.recomputeQueued || this.stopped) return;
    this.recomputeQueued = true;
    queueMicrotask(() => {
      this.recomputeQueued = false;
      this.recompute();
    });
  }

  private recompute(current: readonly MemberInfo[] = this.opts.membership.members()): void {
    if (this.stopped) return;
    // Wall time: routing's failbackAt is a timestamp the API shows.
    const now = this.runtime.clock.wallNow();
    const members = current.map((m) => ({ name: m.name, status: m.status, confirmedSuspect: m.confirmedSuspect }));
    const records = this.opts.catalog.records();
    const verdict = this.outlier.evaluate(records, members, now);
    const ejections = verdict.ejected.map((e) => `${e.node}\u0000${e.id}`).join('\n');
    if (!this.routingDirty && ejections === this.routedEjections) {
      this.armEvaluation(this.routingNextEvaluation, verdict.nextChangeAt, now);
      return;
    }
    // Only the ejected set changed: only the services of the instances that entered or left it.
    const only = this.routingDirty ? undefined : servicesOf(records, changedKeys(this.routedEjections, ejections));
    this.routingDirty = false;
    this.routedEjections = ejections;
    const result = computeRouting({
      records,
      ejected: verdict.ejected,
      members,
      localZone: this.opts.zone,
      now,
      options: { failbackHoldDownMs: this.opts.failbackHoldDownMs, panicThreshold: this.opts.panicThreshold },
      ...(only === undefined ? {} : { services: only }),
    });
    const before = only === undefined ? this.current : this.current.filter((t) => only.has(t.service));
    for (const change of diffTables(before, result.tables)) {
      this.opts.feed.publish('route', change);
    }
    if (only === undefined) {
      this.current = result.tables;
      this.routingNextEvaluation = result.nextEvaluationAt;
    } else {
      this.current = [...this.current.filter((t) => !only.has(t.service)), ...result.tables].sort((a, b) =>
        compareStrings(a.service, b.service),
      );
      // An earlier evaluation than needed only recomputes everything once more.
      this.routingNextEvaluation = earliest(this.routingNextEvaluation, result.nextEvaluationAt);
    }
    this.armEvaluation(this.routingNextEvaluation, verdict.nextChangeAt, now);
  }

  /** A hold-down or an ejection expires: re-evaluate then, even if nothing else happens. */
  private armEvaluation(routingAt: number | null, verdictAt: number | null, now: number): void {
    this.evaluationTimer?.cancel();
    this.evaluationTimer = undefined;
    const next = earliest(routingAt, verdictAt);
    if (next === null) return;
    this.evaluationTimer = this.runtime.timers.after(next - now, () => {
      this.routingDirty = true;
      this.recompute();
    });
  }
}

/** Two versions of a node's record that differ at most in their opinions (and version). */
function sameBesideOpinions(a: NodeRecord, b: NodeRecord): boolean {
  const strip = (r: NodeRecord) => JSON.stringify({ ...r, epoch: 0, seq: 0, opinions: undefined });
  return strip(a) === strip(b);
}

/** Keys (node NUL id, one per line) in exactly one of two such lists. */
function changedKeys(a: string, b: string): Set<string> {
  const x = new Set(a === '' ? [] : a.split('\n'));
  const y = new Set(b === '' ? [] : b.split('\n'));
  return new Set([...x, ...y].filter((k) => !(x.has(k) && y.has(k))));
}

/** The services the records list these instances (node NUL id) under. */
function servicesOf(records: readonly NodeRecord[], keys: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const r of records) {
    for (const i of r.instances) if (keys.has(`${r.node}\u0000${i.id}`)) out.add(i.service);
  }
  return out;
}

function earliest(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}

/** The peer id membership holds for a node: the only signer whose records we accept for it. */
export function peerIdFromMembership(
  membership: { member(name: string): { readonly meta: Uint8Array } | undefined },
  node: string,
): string | undefined {
  const view = membership.member(node);
  return view === undefined ? undefined : memberTags(view.meta)[META_PEER_ID];
}
