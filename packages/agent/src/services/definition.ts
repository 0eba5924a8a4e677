import type { CheckDefinition } from '../health/check-spec.ts';

export {
  CHECK_TYPES,
  type CheckCommon,
  type CheckDefinition,
  type CheckSpec,
  type CheckType,
  type ExecCheckSpec,
  type GrpcCheckSpec,
  type HttpCheckSpec,
  type PollingCheckSpec,
  type TcpCheckSpec,
  type TtlCheckSpec,
} from '../health/check-spec.ts';

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
