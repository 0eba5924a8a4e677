import type { CheckStatus } from '../health/status.ts';

/** The check types an agent runs. */
export const CHECK_TYPES = ['http', 'tcp', 'exec', 'ttl', 'grpc'] as const;
export type CheckType = (typeof CHECK_TYPES)[number];

/** Fields every check has, with Consul's names and semantics. Durations are milliseconds. */
export interface CheckCommon {
  readonly id: string;
  readonly name: string;
  /** The service the check belongs to; a check without one is a node check and counts for every service. */
  readonly serviceId?: string | undefined;
  readonly notes: string;
  /** The state before the first result (Consul's `Status`): critical unless the definition says otherwise. */
  readonly initialStatus: CheckStatus;
  readonly successBeforePassing: number;
  readonly failuresBeforeWarning: number;
  readonly failuresBeforeCritical: number;
  /** Deregister the service when this check has been critical this long. */
  readonly deregisterCriticalServiceAfterMs?: number | undefined;
  /** Output beyond this many bytes is cut (Consul's `output_max_size`, 4 KiB). */
  readonly outputMaxSize: number;
}

export interface HttpCheckSpec {
  readonly type: 'http';
  readonly url: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly body?: string | undefined;
  readonly tlsSkipVerify: boolean;
  readonly tlsServerName?: string | undefined;
  readonly disableRedirects: boolean;
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

export interface TcpCheckSpec {
  readonly type: 'tcp';
  /** `host:port` */
  readonly address: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

export interface ExecCheckSpec {
  readonly type: 'exec';
  readonly args: readonly string[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

export interface GrpcCheckSpec {
  readonly type: 'grpc';
  /** `host:port` or `host:port/service` */
  readonly target: string;
  readonly useTls: boolean;
  readonly tlsSkipVerify: boolean;
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

export interface TtlCheckSpec {
  readonly type: 'ttl';
  readonly ttlMs: number;
}

export type CheckSpec = HttpCheckSpec | TcpCheckSpec | ExecCheckSpec | GrpcCheckSpec | TtlCheckSpec;
export type PollingCheckSpec = Exclude<CheckSpec, TtlCheckSpec>;
export type CheckDefinition = CheckCommon & CheckSpec;

/** One instance of a service on this host. */
export interface ServiceDefinition {
  readonly id: string;
  readonly name: string;
  /** Empty means the node's address, as in Consul. */
  readonly address: string;
  readonly port: number;
  readonly tags: readonly string[];
  readonly meta: Readonly<Record<string, string>>;
  /** Consul's `Weights`; `passing` is the instance's weight. */
  readonly weights: { readonly passing: number; readonly warning: number };
  /** Failover tier: 0 is the primary, higher numbers are backups. */
  readonly priority: number;
  /** Undefined means the agent's zone. */
  readonly zone?: string | undefined;
  /** How the service spreads traffic (Vigil's `Policy`); undefined means active-passive. */
  readonly policy?: ServicePolicy | undefined;
  /** Set exactly when `policy` is `leader`: the election group's voters and hooks. */
  readonly election?: ElectionSpec | undefined;
}

export type ServicePolicy = 'active-passive' | 'active-active' | 'leader';

/** A command run when this host gains or loses the leadership of a service's election group. */
export interface HookSpec {
  readonly args: readonly string[];
  readonly timeoutMs: number;
}

/** Policy `leader`: one fenced active instance, chosen by the service's election group. */
export interface ElectionSpec {
  /** Voters in the group (candidates plus witnesses): 3 or 5. */
  readonly voters: 3 | 5;
  readonly onPromote?: HookSpec | undefined;
  readonly onDemote?: HookSpec | undefined;
}

/** A service with the checks that came with it. */
export interface Registration {
  readonly service: ServiceDefinition;
  readonly checks: readonly CheckDefinition[];
}
