// The election plane on one agent: which groups exist, which of them this agent runs, and the
// glue between them and the catalog, membership, the registry and the change feed.
//
// A group exists for every service with `"Policy": "leader"` (named after it) and for every lock
// name some agent requests (`vigil lock NAME`, `mesh.elect`). Its candidates are the agents that
// host an instance or hold a request, as the catalog shows them. Voters are chosen by voters.ts.
//
// Bootstrap, as hashicorp/raft's BootstrapCluster: one configuration on every first voter. The
// bootstrapper (the first-ranked usable candidate, once the catalog is in sync and the candidate set
// has been stable for a while) picks the voters, keeps them in DATA_DIR/elections/<group>/
// bootstrap.json and publishes (group, voters) in its record; each listed voter starts the group
// with exactly that list. Later voters are added by the leader (single-server changes) and start
// empty when the first message for a group they should vote in arrives.
//
// Known limit: two agents whose catalogs disagree at the very start (each missing the other's
// record for the whole settle time) can both bootstrap; each then holds its own log. The settle
// time and the sync wait make this a start-up race only.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type LeaderClaim, META_ZONE, type NodeRecord } from '@vigil/protocol';
import { isLiveStatus } from '../base/member-status.ts';
import type { CatalogNode } from '../catalog/index.ts';
import { writeFileAtomicSync } from '../data-dir/atomic-write.ts';
import type { ChangeFeed } from '../events/change-feed.ts';
import type { Logger } from '../log.ts';
import type { MemberInfo, MembershipService } from '../membership/membership-service.ts';
import type { Mesh } from '../mesh/mesh.ts';
import type { Runtime, TimerHandle } from '../runtime/index.ts';
import type { ServiceView } from '../services/registry.ts';
import { LockActor, ServiceActor, type ServiceHooks } from './actors.ts';
import type { ForwardRequest, GroupOp, OpResponse } from './forward-codec.ts';
import { ForwardError, StreamForwardTransport } from './forward-transport.ts';
import { ElectionGroup, type GroupStatus, type LeadershipActor } from './group.ts';
import { runGroupOp } from './group-ops.ts';
import { FileGroupStorage, GROUP_NAME } from './group-storage.ts';
import type { HookRunner } from './hooks.ts';
import { KvMachine } from './kv-machine.ts';
import { decodeRaftMessage, encodeRaftMessage } from './raft/codec.ts';
import type { RaftMessage } from './raft/types.ts';
import type { ElectionTiming } from './timing.ts';
import { type ElectionStream, type MessageCodec, StreamElectionTransport } from './transport.ts';
import { bootstrapper, desiredVoters, isUsable, nextConfChange, type VoterMember } from './voters.ts';

/** Most groups one agent runs (each holds a Raft node, a log and timers). */
export const MAX_GROUPS = 256;
/** The candidate set must hold still this long before a group is bootstrapped. */
const BOOTSTRAP_SETTLE_MS = 2000;
/** How often the plane re-reads the catalog and membership even without an event (see arm()). */
const RECONCILE_MS = 500;
/**
 * The leader's share of a forwarded request's deadline is this much shorter, so its answer (even
 * "no outcome yet") reaches the forwarder before the forwarder gives up.
 */
const FORWARD_ANSWER_MARGIN_MS = 250;

export const raftCodec: MessageCodec = {
  encode: encodeRaftMessage,
  decode: (bytes) => {
    const out = decodeRaftMessage(bytes);
    if (!out.ok) throw new Error(`bad raft message: ${out.reason}`);
    return out.msg;
  },
};

/** One group as the cluster shows it. */
export interface GroupSpec {
  readonly group: string;
  readonly kind: 'service' | 'lock';
  readonly target: number;
  readonly candidates: readonly string[];
  /** A bootstrap published by some node: (by, voters). */
  readonly bootstrap?: { readonly by: string; readonly voters: readonly string[] } | undefined;
}

/** What the plane reads of the local service registry (ServiceRegistry in the agent). */
export interface ElectionRegistry {
  listServices(): readonly Pick<ServiceView, 'service' | 'source'>[];
  subscribe(listener: () => void): () => void;
}

export interface ElectionsOptions {
  readonly node: string;
  readonly dataDir: string;
  readonly runtime: Runtime;
  readonly timing: ElectionTiming;
  readonly catalog: CatalogNode;
  readonly membership: MembershipService;
  readonly registry: ElectionRegistry;
  readonly mesh: Mesh;
  readonly feed: ChangeFeed;
  readonly log: Logger;
  readonly enableExecChecks: boolean;
  /** Runs OnPromote/OnDemote (default runHook: a process); the simulator records them instead. */
  readonly runHook?: HookRunner;
}

interface Running {
  readonly group: ElectionGroup;
  readonly machine: KvMachine;
  readonly actor: LeadershipActor;
}

interface LockRequest {
  readonly session: string;
  expiresAt: number;
}

/** A lock request not renewed (polled) this long is dropped. */
export const LOCK_SESSION_TTL_MS = 5000;

export class Elections {
  private readonly opts: ElectionsOptions;
  private readonly log: Logger;
  private readonly groups = new Map<string, Running>();
  private readonly bootstraps = new Map<string, string[]>();
  private readonly locks = new Map<string, LockRequest>();
  private readonly deadSince = new Map<string, number>();
  private readonly candidateSince = new Map<string, { key: string; since: number }>();
  private transport!: StreamElectionTransport;
  private forwarder!: StreamForwardTransport;
  private timer: TimerHandle | undefined;
  /**
   * Changes come in bursts (a push/pull merges dozens of members, a start-up brings every agent's
   * record), one event each, and a pass reads every member and record: a zero timer runs after
   * everything read in this turn of the loop, so a burst costs one pass (as the mesh does).
   */
  private batchTimer: TimerHandle | undefined;
  private stopped = false;
  private lastPublished = '';
  /** Messages for groups this agent does not run and may not start: counted and dropped. */
  strays = 0;

  private constructor(opts: ElectionsOptions) {
    this.opts = opts;
    this.log = opts.log.child({ plane: 'election' });
  }

  static async start(opts: ElectionsOptions): Promise<Elections> {
    const e = new Elections(opts);
    e.transport = await StreamElectionTransport.start(opts.catalog, raftCodec, opts.runtime, e.log);
    e.transport.onMessage((group, msg) => e.deliver(group, msg));
    e.forwarder = await StreamForwardTransport.start(
      opts.catalog,
      (req, from) => e.serveForwarded(req, from),
      opts.runtime,
      e.log,
    );
    opts.mesh.setElectionPart(() => e.recordPart());
    const onChange = () => {
      e.specCache = undefined;
      e.reconcileSoon();
    };
    opts.catalog.on('record', onChange);
    opts.membership.on('event', onChange);
    e.unsubscribe.push(
      () => opts.catalog.off('record', onChange),
      () => opts.membership.off('event', onChange),
      opts.registry.subscribe(onChange),
    );
    e.tick();
    return e;
  }

  private readonly unsubscribe: (() => void)[] = [];

  // ---- what the cluster shows ----------------------------------------------------------------

  private members(): VoterMember[] {
    return this.opts.membership.members().map((m: MemberInfo) => ({
      name: m.name,
      status: m.status,
      zone: m.tags[META_ZONE] ?? '',
    }));
  }

  /** Dropped on every catalog or membership change: specs() is read on every Raft step. */
  private specCache: Map<string, GroupSpec> | undefined;

  /** Every group the catalog shows, with its candidates, from the newest record per node. */
  specs(): Map<string, GroupSpec> {
    this.specCache ??= this.computeSpecs();
    return this.specCache;
  }

  private computeSpecs(): Map<string, GroupSpec> {
    const out = new Map<
      string,
      { kind: 'service' | 'lock'; target: number; candidates: Set<string>; bootstrap?: GroupSpec['bootstrap'] }
    >();
    const entry = (group: string, kind: 'service' | 'lock') => {
      let s = out.get(group);
      if (s === undefined) {
        s = { kind, target: 3, candidates: new Set() };
        out.set(group, s);
      }
      return s;
    };
    const live = new Map(this.opts.membership.members().map((m) => [m.name, m.status]));
    for (const record of this.records()) {
      const status = live.get(record.node);
      const counted = isLiveStatus(status);
      for (const i of record.instances) {
        if (i.policy !== 'leader' || !GROUP_NAME.test(i.service)) continue;
        const s = entry(i.service, 'service');
        s.target = Math.max(s.target, i.voters === 5 ? 5 : 3);
        if (counted && !i.maintenance) s.candidates.add(record.node);
      }
      for (const name of record.locks ?? []) {
        if (!GROUP_NAME.test(name)) continue;
        const s = entry(name, 'lock');
        if (counted) s.candidates.add(record.node);
      }
      for (const b of record.bootstraps ?? []) {
        const s = out.get(b.group);
        if (s && s.bootstrap === undefined) s.bootstrap = { by: record.node, voters: b.voters };
      }
    }
    return new Map(
      [...out].map(([group, s]) => [
        group,
        { group, kind: s.kind, target: s.target, candidates: [...s.candidates].sort(), bootstrap: s.bootstrap },
      ]),
    );
  }

  private records(): NodeRecord[] {
    return this.opts.catalog.records();
  }

  // ---- reconciliation ------------------------------------------------------------------------

  private tick(): void {
    this.timer = undefined;
    if (this.stopped) return;
    this.reconcile();
  }

  /**
   * Arms the periodic pass, which serves running groups, lock sessions and groups waiting to
   * bootstrap. An agent with none of them (no leader service anywhere, no lock) sleeps instead of
   * scanning every member twice a second: every catalog, membership or registry change runs
   * reconcile(), and a lock request arms it again.
   */
  private arm(): void {
    if (this.stopped || this.timer !== undefined) return;
    if (this.groups.size === 0 && this.locks.size === 0 && this.specs().size === 0) return;
    this.timer = this.opts.runtime.timers.after(RECONCILE_MS, () => this.tick());
  }

  private reconcileSoon(): void {
    if (this.stopped || this.batchTimer !== undefined) return;
    this.batchTimer = this.opts.runtime.timers.after(0, () => {
      this.batchTimer = undefined;
      this.reconcile();
    });
  }

  private reconcile(): void {
    if (this.stopped) return;
    const now = this.opts.runtime.clock.now();
    const members = this.members();
    for (const m of members) {
      if (isUsable(m)) this.deadSince.delete(m.name);
      else if (!this.deadSince.has(m.name)) this.deadSince.set(m.name, now);
    }
    for (const [name, lock] of this.locks) if (lock.expiresAt < now) this.releaseLock(name, lock.session);
    const specs = this.specs();
    for (const spec of specs.values()) {
      if (this.groups.has(spec.group)) continue;
      this.maybeStart(spec, members, now);
    }
    // A group no record mentions any more (the service deregistered everywhere, every lock
    // holder gone) stops here; its state stays on disk for a later return.
    for (const [name, running] of this.groups) {
      if (specs.has(name)) continue;
      this.groups.delete(name);
      this.bootstraps.delete(name);
      this.log.info({ group: name }, 'election: group no longer in the catalog; stopping it here');
      void running.group.stop();
    }
    this.publishIfChanged();
    this.arm();
  }

  private maybeStart(spec: GroupSpec, members: VoterMember[], now: number): void {
    const self = this.opts.node;
    const dir = join(this.opts.dataDir, 'elections', spec.group);
    const saved = this.readBootstrap(dir);
    if (saved !== undefined || existsSync(join(dir, 'state.json'))) {
      this.startGroup(spec, saved ?? []);
      return;
    }
    if (spec.bootstrap !== undefined) {
      if (spec.bootstrap.voters.includes(self)) {
        this.writeBootstrap(dir, spec.group, spec.bootstrap.voters);
        this.startGroup(spec, spec.bootstrap.voters);
      }
      return;
    }
    // Nobody has bootstrapped it yet: the first-ranked candidate does, once things hold still.
    const key = spec.candidates.join(',');
    const seen = this.candidateSince.get(spec.group);
    if (seen?.key !== key) {
      this.candidateSince.set(spec.group, { key, since: now });
      return;
    }
    if (now - seen.since < BOOTSTRAP_SETTLE_MS || !this.opts.mesh.isSynced()) return;
    if (bootstrapper(spec.group, spec.candidates, members) !== self) return;
    const voters = desiredVoters({ group: spec.group, target: spec.target, candidates: spec.candidates, members });
    // A group is born with its full size: fewer voters give no failover, and growing a 1- or
    // 2-voter group needs the new voter's answer before the change commits.
    if (voters.length < spec.target) return;
    this.log.info({ group: spec.group, voters }, 'election: bootstrapping the group');
    this.writeBootstrap(dir, spec.group, voters);
    this.startGroup(spec, voters);
  }

  private readBootstrap(dir: string): string[] | undefined {
    const path = join(dir, 'bootstrap.json');
    if (!existsSync(path)) return undefined;
    const value = JSON.parse(readFileSync(path, 'utf8')) as { voters?: unknown };
    return Array.isArray(value.voters) ? value.voters.filter((v): v is string => typeof v === 'string') : [];
  }

  private writeBootstrap(dir: string, group: string, voters: readonly string[]): void {
    writeFileAtomicSync(join(dir, 'bootstrap.json'), JSON.stringify({ group, voters }));
    this.bootstraps.set(group, [...voters]);
  }

  private startGroup(spec: GroupSpec, voters: readonly string[]): Running | undefined {
    if (this.groups.size >= MAX_GROUPS) {
      this.log.warn({ group: spec.group, max: MAX_GROUPS }, 'election: too many groups on this agent; not starting');
      return undefined;
    }
    const saved = this.readBootstrap(join(this.opts.dataDir, 'elections', spec.group));
    if (saved?.length) this.bootstraps.set(spec.group, saved);
    const machine = new KvMachine();
    const actor = this.actorFor(spec.group);
    const group = new ElectionGroup({
      group: spec.group,
      self: this.opts.node,
      runtime: this.opts.runtime,
      storage: new FileGroupStorage(this.opts.dataDir, spec.group),
      send: (msg) => this.transport.send(spec.group, msg),
      voters,
      timing: this.opts.timing,
      stateMachine: machine,
      actor,
      log: this.log,
      planChange: (st) => {
        const current = this.specs().get(spec.group);
        if (current === undefined) return undefined;
        const members = this.members();
        const desired = desiredVoters({
          group: spec.group,
          target: current.target,
          candidates: current.candidates,
          members,
          current: st.voters,
        });
        return nextConfChange({
          current: st.voters,
          desired,
          members,
          deadSince: this.deadSince,
          now: this.opts.runtime.clock.now(),
          graceMs: this.opts.timing.deadVoterGraceMs,
          leader: this.opts.node,
        });
      },
      candidates: () => this.specs().get(spec.group)?.candidates ?? [],
    });
    const running = { group, machine, actor };
    this.groups.set(spec.group, running);
    group.on('change', (status) => {
      this.opts.feed.publish('election', status);
      this.publishIfChanged();
    });
    this.log.info({ group: spec.group, voters }, 'election: group started');
    return running;
  }

  private actorFor(group: string): LeadershipActor {
    const hosted = this.opts.registry
      .listServices()
      .some((v) => v.service.name === group && v.service.policy === 'leader');
    if (!hosted) return new LockActor();
    return new ServiceActor(group, () => this.hooksOf(group), this.opts.runtime, this.opts.runHook);
  }

  private hooksOf(group: string): ServiceHooks {
    const view = this.opts.registry
      .listServices()
      .find((v) => v.service.name === group && v.service.policy === 'leader');
    const e = view?.service.election;
    return {
      onPromote: e?.onPromote,
      onDemote: e?.onDemote,
      allowed: view !== undefined && (view.source === 'config' || this.opts.enableExecChecks),
    };
  }

  /** A message for a group: delivered, or the group started empty if this agent should vote in it. */
  private deliver(group: string, msg: RaftMessage): void {
    let running = this.groups.get(group);
    if (running === undefined) {
      const spec = this.specs().get(group);
      if (spec === undefined || this.stopped) {
        this.strays++;
        return;
      }
      // A leader adding us (or a bootstrap we have not seen yet in the catalog): start empty; the
      // core waits for the leader's log and never campaigns before it holds a configuration.
      running = this.startGroup(spec, []);
      if (running === undefined) return;
    }
    running.group.receive(msg);
  }

  // ---- this node's record ----------------------------------------------------------------------

  private recordPart(): Pick<NodeRecord, 'leads' | 'locks' | 'bootstraps'> {
    const leads: LeaderClaim[] = [];
    for (const [name, r] of this.groups) {
      const claim = r.group.claim();
      if (claim === undefined) continue;
      const instance = this.opts.registry
        .listServices()
        .find((v) => v.service.name === name && v.service.policy === 'leader')?.service.id;
      leads.push({ group: name, token: claim.token, term: claim.term, ...(instance ? { instance } : {}) });
    }
    return {
      leads: leads.sort((a, b) => (a.group < b.group ? -1 : 1)),
      locks: [...this.locks.keys()].sort(),
      bootstraps: [...this.bootstraps]
        .map(([group, voters]) => ({ group, voters }))
        .sort((a, b) => (a.group < b.group ? -1 : 1)),
    };
  }

  private publishIfChanged(): void {
    const part = JSON.stringify(this.recordPart());
    if (part === this.lastPublished) return;
    this.lastPublished = part;
    this.opts.mesh.republish();
  }

  // ---- API -------------------------------------------------------------------------------------

  group(name: string): ElectionGroup | undefined {
    return this.groups.get(name)?.group;
  }

  machine(name: string): KvMachine | undefined {
    return this.groups.get(name)?.machine;
  }

  actor(name: string): LeadershipActor | undefined {
    return this.groups.get(name)?.actor;
  }

  statuses(): GroupStatus[] {
    return [...this.groups.values()].map((r) => r.group.status()).sort((a, b) => (a.group < b.group ? -1 : 1));
  }

  /** Registers this agent as a candidate for lock `name`; one holder session per agent and name. */
  requestLock(name: string, session: string): 'ok' | 'taken' | 'full' {
    const held = this.locks.get(name);
    if (held !== undefined && held.session !== session) return 'taken';
    if (held === undefined && this.locks.size >= MAX_GROUPS) return 'full';
    this.locks.set(name, { session, expiresAt: this.opts.runtime.clock.now() + LOCK_SESSION_TTL_MS });
    this.publishIfChanged();
    this.arm();
    return 'ok';
  }

  /** Renews a lock session; false when it is not (or no longer) this agent's request. */
  renewLock(name: string, session: string): boolean {
    const held = this.locks.get(name);
    if (held?.session !== session) return false;
    held.expiresAt = this.opts.runtime.clock.now() + LOCK_SESSION_TTL_MS;
    return true;
  }

  releaseLock(name: string, session: string): boolean {
    if (this.locks.get(name)?.session !== session) return false;
    this.locks.delete(name);
    this.publishIfChanged();
    const g = this.groups.get(name)?.group;
    if (g?.status().role === 'leader') void g.stepDown().catch(() => {});
    return true;
  }

  /**
   * What a lock holder may do now: act for `validMs` at most, measured from before it sent the
   * poll (the lease left minus the kill margin), only while this agent acts as the group's leader.
   */
  lockGrant(name: string): { held: boolean; validMs: number; token: number; term: number; leader?: string } {
    const status = this.groups.get(name)?.group.status();
    if (status === undefined) return { held: false, validMs: 0, token: 0, term: 0 };
    const validMs = Math.max(0, status.actingForMs - this.opts.timing.killMarginMs);
    const held = status.acting === 'acting' && validMs > 0;
    return {
      held,
      validMs: held ? validMs : 0,
      token: status.token,
      term: status.term,
      ...(status.leader ? { leader: status.leader } : {}),
    };
  }

  transportCounters() {
    return this.transport.counters;
  }

  forwardCounters() {
    return this.forwarder.counters;
  }

  /**
   * The node that leads group `name` as far as this agent knows: its own replica's view of the
   * Raft leader, else the highest-token claim in the catalog (what the routing table follows).
   */
  leaderOf(name: string): string | undefined {
    const raft = this.groups.get(name)?.group.status().leader;
    if (raft !== undefined) return raft;
    let best: { node: string; token: number } | undefined;
    for (const record of this.records()) {
      for (const claim of record.leads ?? []) {
        if (claim.group === name && (best === undefined || claim.token > best.token)) {
          best = { node: record.node, token: claim.token };
        }
      }
    }
    return best?.node;
  }

  /**
   * Carries out `op` on group `name` for a client of this agent: here when this agent's replica can
   * (it leads, or the op is a read and it votes), otherwise on the leader's agent, whose answer is
   * returned unchanged. A forward that fails after the request left is never retried.
   */
  async perform(name: string, op: GroupOp, timeoutMs: number): Promise<OpResponse> {
    const running = this.groups.get(name);
    const runtime = this.opts.runtime;
    if (running !== undefined && (op.op === 'read' || running.group.status().role === 'leader')) {
      return runGroupOp(name, running, op, timeoutMs, runtime);
    }
    const leader = this.leaderOf(name);
    if (leader === undefined) {
      return { status: 503, body: { error: `${name} has no known leader now; nothing was sent; retry` } };
    }
    if (leader === this.opts.node) return runGroupOp(name, running, op, timeoutMs, runtime);
    const abort = new AbortController();
    const timer = runtime.timers.after(timeoutMs, () => abort.abort(new Error('deadline')));
    const req: ForwardRequest = { ...op, group: name, timeoutMs: Math.max(1, timeoutMs - FORWARD_ANSWER_MARGIN_MS) };
    try {
      return await this.forwarder.request(leader, req, abort.signal);
    } catch (err) {
      if (!(err instanceof ForwardError)) throw err;
      const after = !err.sent
        ? 'it was not sent; retry'
        : op.op === 'read'
          ? 'retry'
          : 'its outcome is unknown (it may have taken effect) and it was not retried';
      return { status: 503, body: { error: `${err.message}; ${after}`, leader }, leader };
    } finally {
      timer.cancel();
    }
  }

  /** A request another agent forwarded: carried out here or refused, never forwarded again. */
  private serveForwarded(req: ForwardRequest, from: string): Promise<OpResponse> {
    this.log.debug({ group: req.group, op: req.op, from }, 'election: serving a forwarded request');
    return runGroupOp(req.group, this.groups.get(req.group), req, req.timeoutMs, this.opts.runtime);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.timer?.cancel();
    this.batchTimer?.cancel();
    for (const off of this.unsubscribe) off();
    await Promise.all([...this.groups.values()].map((r) => r.group.stop()));
    await this.transport.stop();
    await this.forwarder.stop();
  }
}

export type { ElectionStream };
