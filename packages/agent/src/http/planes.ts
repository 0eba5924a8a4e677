// What the HTTP routes read from and drive in the planes, one narrow interface per concept (as
// js-libp2p's ConnectionGater): a route module names only what it uses, the concrete planes
// (MembershipService, Mesh, CatalogNode, ServiceRegistry, Elections, DnsServer) implement these
// structurally, and agent-api.ts wires them. A route test can pass a small in-memory object.

import type { EndpointOpinion, NodeRecord } from '@vigil/protocol';
import type { CatalogStats } from '../catalog/catalog-node.ts';
import type { DnsCounters } from '../dns/index.ts';
import type { GroupSpec } from '../election/elections.ts';
import type { GroupOp, OpResponse } from '../election/forward-codec.ts';
import type { ForwardCounters } from '../election/forward-transport.ts';
import type { GroupStatus } from '../election/group.ts';
import type { TransportCounters } from '../election/transport.ts';
import type { CheckStatus } from '../health/status.ts';
import type { LogSubscriber } from '../log-tap.ts';
import type { Address } from '../membership/address.ts';
import type { TcpPortState } from '../membership/confirmation.ts';
import type { KeyOperation, KeyringReport } from '../membership/key-manager.ts';
import type { MemberInfo } from '../membership/member-info.ts';
import type { JoinResult, MembershipCounters } from '../membership/membership-service.ts';
import type { TraceEntry } from '../membership/probe-trail.ts';
import type { SerfQueryDrop } from '../membership/serf-queries.ts';
import type { MembershipEvent, MemberView } from '../membership/swim-engine.ts';
import type { Verdict } from '../membership/verdict-log.ts';
import type { Observation, OutlierVerdict } from '../outlier/index.ts';
import type { RoutingTable } from '../routing/index.ts';
import type { CheckDefinition, Registration } from '../services/definition.ts';
import type { Maintenance } from '../services/maintenance.ts';
import type { CheckView, RegisterOptions, ServiceView } from '../services/registry.ts';

// ---- membership ---------------------------------------------------------------------------

/** The member list as this agent sees it. */
export interface MemberReader {
  localName(): string;
  /** Sorted by name. */
  members(): readonly MemberInfo[];
  member(name: string): MemberView | undefined;
}

/** Consul's join and force-leave verbs. */
export interface MemberWriter {
  join(seeds: readonly Address[]): Promise<JoinResult>;
  forceLeave(name: string): boolean;
}

/** Who suspected a member, how, and how it ended. */
export interface VerdictReader {
  readonly verdicts: { history(member: string): readonly Verdict[] };
  readonly trail: { steps(member: string): readonly TraceEntry[] };
  /**
   * What our TCP found at the member's gossip port: reached (a refusal from it counts), rejects (it
   * refused while the member answered over UDP: a firewall), unknown; undefined: not tracked.
   */
  tcpPort(member: string): TcpPortState | undefined;
}

/** The gossip keyring, run on every member through Serf's key queries. */
export interface KeyringDriver {
  readonly keys: {
    run(op: KeyOperation, key?: Uint8Array): Promise<KeyringReport>;
    localKeys(): { keys: string[]; primary: string } | undefined;
  };
}

/** The membership plane's counters and events, for /metrics. */
export interface GossipStats extends MemberReader {
  readonly counters: MembershipCounters;
  serfDrops(): Record<SerfQueryDrop, number>;
  /** Lifeguard's local health score. */
  health(): number;
  on(event: 'event', listener: (e: MembershipEvent) => void): unknown;
}

// ---- catalog and routing ------------------------------------------------------------------

/** Every node's service record this agent holds. */
export interface CatalogReader {
  records(): readonly NodeRecord[];
}

/** The catalog plane's figures, and one node's record. */
export interface CatalogStatsReader {
  stats(): CatalogStats;
  get(node: string): NodeRecord | undefined;
}

/** Whether the catalog holds a record from every live member since the start (gates catalog reads). */
export interface CatalogSync {
  isSynced(): boolean;
}

/** The routing tables, and the outlier verdict that demoted endpoints in them. */
export interface RouteReader {
  tables(): readonly RoutingTable[];
  table(service: string): RoutingTable | undefined;
  verdict(): OutlierVerdict;
}

/** Local SDK clients' outcome reports in, this host's opinions out. */
export interface ObservationSink {
  observe(batch: readonly Observation[]): number;
  opinions(): readonly EndpointOpinion[];
}

// ---- local services and checks -----------------------------------------------------------

/** The services and checks registered on this agent. */
export interface ServiceReader {
  readonly index: number;
  listServices(): readonly ServiceView[];
  getService(id: string): ServiceView | undefined;
  listChecks(): readonly CheckView[];
  getNodeMaintenance(): Maintenance | undefined;
}

/** Registering, deregistering, TTL reports and maintenance on this agent. */
export interface ServiceWriter {
  register(registration: Registration, options?: RegisterOptions): Promise<void>;
  deregister(id: string): Promise<void>;
  registerCheck(def: CheckDefinition, options?: { source?: RegisterOptions['source'] }): Promise<void>;
  deregisterCheck(id: string): Promise<void>;
  updateTtl(id: string, status: CheckStatus, output: string): Promise<void>;
  setNodeMaintenance(enabled: boolean, reason?: string): Promise<void>;
  setServiceMaintenance(id: string, enabled: boolean, reason?: string): Promise<void>;
}

// ---- elections and DNS --------------------------------------------------------------------

/** The election groups this agent knows: their specs and live status. */
export interface ElectionReader {
  specs(): ReadonlyMap<string, GroupSpec>;
  statuses(): readonly GroupStatus[];
  group(name: string): { status(): GroupStatus } | undefined;
  /** The group's leadership actor; a service group's records its hook runs. */
  actor(name: string): object | undefined;
}

/** The election plane's figures, for /metrics. */
export interface ElectionStats {
  statuses(): readonly GroupStatus[];
  transportCounters(): TransportCounters;
  forwardCounters(): ForwardCounters;
}

/** Group operations (KV, step-down), carried out by the leader's agent, and local lock requests. */
export interface ElectionDriver extends ElectionReader {
  perform(name: string, op: GroupOp, timeoutMs: number): Promise<OpResponse>;
  requestLock(name: string, session: string): 'ok' | 'taken' | 'full';
  renewLock(name: string, session: string): boolean;
  releaseLock(name: string, session: string): boolean;
  lockGrant(name: string): { held: boolean; validMs: number; token: number; term: number; leader?: string };
}

/** The agent's log lines as it writes them, for /v1/agent/monitor. */
export interface LogReader {
  /** The subscriber answers false for a line it dropped; the returned function unsubscribes. */
  subscribe(subscriber: LogSubscriber): () => void;
}

/** The DNS interface's counters, for /metrics. */
export interface DnsStats {
  readonly counters: DnsCounters;
}
