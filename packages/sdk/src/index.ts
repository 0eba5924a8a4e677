// @vigil/sdk: the client library applications embed. See packages/sdk/README.md.
export type { AgentSyncOptions, SyncStats } from './agent-sync.ts';
export {
  type BreakerOptions,
  type BreakerSnapshot,
  type BreakerState,
  DEFAULT_BREAKER_OPTIONS,
  EndpointBreaker,
} from './breaker.ts';
export {
  type ClientEvents,
  type ClientOptions,
  type ClientStats,
  connect,
  createClient,
  type EndpointStats,
  type MeshRequestInit,
  type ResolveOptions,
  type RoutesEvent,
  type ServiceOptions,
  type ServiceStats,
  VigilClient,
} from './client.ts';
export type { Elected, ElectHandlers, Election } from './elect.ts';
export {
  AgentResponseError,
  AgentUnavailableError,
  AttemptTimeoutError,
  BulkheadRejectedError,
  ClientClosedError,
  DeadlineExceededError,
  NoHealthyEndpointError,
  UnknownServiceError,
  VigilError,
} from './errors.ts';
export type { AttemptFn, AttemptInfo, BulkheadOptions, CallOptions, Outcome, ServiceCounters } from './failover.ts';
export {
  FENCING_TOKEN_HEADER,
  type FetchOptions,
  type HttpResult,
  meshInterceptor,
  RetriableStatusError,
} from './mesh-dispatcher.ts';
export { type MeshHostOptions, MeshHosts } from './mesh-hosts.ts';
export { classifyFailure, type ObservationStats, type OutcomeClass } from './observations.ts';
export { RetryBudget, type RetryBudgetOptions } from './retry-budget.ts';
export type { BreakerLimits, Endpoint } from './service-routes.ts';
