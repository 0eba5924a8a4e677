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
  readonly policy?: 'active-passive' | 'active-active' | undefined;
}

/** A service with the checks that came with it. */
export interface Registration {
  readonly service: ServiceDefinition;
  readonly checks: readonly CheckDefinition[];
}
