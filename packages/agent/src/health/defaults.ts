/**
 * Check timing defaults and limits, each with its reason. Consul's values are kept where Consul
 * has one, since operators already know them.
 */

/** Consul's default timeout for HTTP, TCP and gRPC checks. */
export const DEFAULT_NETWORK_TIMEOUT_MS = 10_000;

/** Consul's default timeout for script (exec) checks: scripts are slower than a connect. */
export const DEFAULT_EXEC_TIMEOUT_MS = 30_000;

/**
 * The shortest interval accepted. Consul clamps to 1s; Vigil allows 100ms because failover speed
 * is its point, and one probe per 100ms per check is still cheap on loopback.
 */
export const MIN_CHECK_INTERVAL_MS = 100;

/** Consul's `output_max_size` default: check output beyond 4 KiB is cut. */
export const DEFAULT_OUTPUT_MAX_SIZE = 4096;

/** The largest `OutputMaxSize` accepted, so a check cannot make the state file huge. */
export const MAX_OUTPUT_MAX_SIZE = 64 * 1024;

/**
 * Consul's floor for `deregister_critical_service_after`: shorter values are raised to it, so a
 * brief outage never removes a registration.
 */
export const MIN_DEREGISTER_CRITICAL_AFTER_MS = 60_000;

/** Consul's reaper period for `deregister_critical_service_after`. */
export const REAP_INTERVAL_MS = 30_000;

/** Consul follows up to 10 redirects in HTTP checks (Go's http.Client default). */
export const MAX_HTTP_REDIRECTS = 10;

/**
 * OnPromote / OnDemote run while leadership changes hands: a new leader does not act before its
 * hook has run, and a demoted one must have finished (or been killed) before its lease ends, so a
 * hook gets less time than a check script.
 */
export const DEFAULT_HOOK_TIMEOUT_MS = 10_000;
