// The catalog plane's record: everything routing needs about one node's service instances.
// Each agent is the only author of its own record and signs it (gossipsub StrictSign); receivers
// accept it only from the peer id that membership holds for the node.

import type { EndpointOpinion } from './opinion.ts';

export type InstanceHealth = 'passing' | 'warning' | 'critical';

/** How a service spreads traffic; declared by its instances (the most common declaration wins). */
export type FailoverPolicy = 'active-passive' | 'active-active' | 'leader';

export interface InstanceRecord {
  /** Service instance id, unique on its node. */
  readonly id: string;
  /** Service name: what applications resolve. */
  readonly service: string;
  /** Where to reach it; never empty (the node's address is filled in by the author). */
  readonly address: string;
  readonly port: number;
  readonly tags: readonly string[];
  readonly meta: Readonly<Record<string, string>>;
  /** Relative share within its tier (Consul's Weights.Passing); >= 1. */
  readonly weight: number;
  /** Failover tier: 0 is the primary, higher numbers are backups. */
  readonly priority: number;
  readonly zone: string;
  readonly policy: FailoverPolicy;
  /** Policy `leader`: how many voters the service's election group has (3 or 5). */
  readonly voters?: number | undefined;
  /** The combined health of its checks (maintenance is the separate flag below). */
  readonly health: InstanceHealth;
  /** The instance, or its whole node, is drained: routing treats it as gone. */
  readonly maintenance: boolean;
  /**
   * When its health last flipped between critical and not (author's wall ms, oldest first, at most
   * 8): route-flap damping holds a flapping instance out (src/outlier/damping.ts). Absent = none.
   */
  readonly flaps?: readonly number[];
  /**
   * Wall ms (the author's clock) when the instance's health last came back to passing or warning
   * after being critical or in maintenance, once it had been usable before (in this life of the
   * agent, or the previous one it restored): the start of its failback hold-down. Absent for an
   * instance never seen failed, which has no hold-down. Every agent reads the same value, so every
   * agent holds the same failback for the same time.
   */
  readonly recoveredAt?: number;
}

export interface NodeRecord {
  readonly node: string;
  /** The author's libp2p peer id; must match what membership holds for `node`. */
  readonly peerId: string;
  /**
   * Version = (epoch, seq), compared lexicographically; the newest wins. The epoch is the agent's
   * boot time in ms, so a restarted agent's records beat its previous life's whatever their seq.
   */
  readonly epoch: number;
  readonly seq: number;
  readonly instances: readonly InstanceRecord[];
  /** This host's views of the endpoints its applications call (outlier detection); absent = none. */
  readonly opinions?: readonly EndpointOpinion[];
  /**
   * Election groups this node leads, as it knows them when it publishes: every agent routes a
   * `leader` service to the claim with the highest token (a deposed leader's claim is lower).
   */
  readonly leads?: readonly LeaderClaim[] | undefined;
  /** Ad-hoc election groups (`vigil lock NAME`) this node is a candidate of. */
  readonly locks?: readonly string[] | undefined;
  /**
   * Groups this node bootstrapped, with their first voters: each listed voter starts the group
   * with exactly this configuration (Raft's bootstrap must be one configuration on every voter).
   */
  readonly bootstraps?: readonly GroupBootstrap[] | undefined;
}

export interface GroupBootstrap {
  readonly group: string;
  readonly voters: readonly string[];
}

/** "I lead `group` since the entry at `token` was committed in `term`." */
export interface LeaderClaim {
  readonly group: string;
  /** The fencing token: the log index of the leadership's first committed entry; only rises. */
  readonly token: number;
  readonly term: number;
  /** The leader's instance of the service (absent for a lock group). */
  readonly instance?: string | undefined;
}

/** Bounds every receiver enforces before accepting a record. */
export const MAX_INSTANCES_PER_NODE = 256;
export const MAX_RECORD_BYTES = 256 * 1024;
/** Election groups one node may lead or stand for (each list). */
export const MAX_GROUPS_PER_NODE = 256;

/** > 0 when `a` is newer than `b`. */
export function compareVersion(a: Pick<NodeRecord, 'epoch' | 'seq'>, b: Pick<NodeRecord, 'epoch' | 'seq'>): number {
  return a.epoch - b.epoch || a.seq - b.seq;
}
