// What a health check is: Consul's check definition, parsed (services/registration.ts parses it).

import type { CheckStatus } from './status.ts';

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
