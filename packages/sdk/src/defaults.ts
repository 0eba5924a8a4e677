/**
 * Every timing and threshold default of the SDK, in one place, with the reason for its value.
 * The references are in shared/reference/failover-anchors.md (§3 Envoy/Linkerd/Finagle, §4 libraries).
 */

/** The agent's HTTP API, as the CLI finds it: VIGIL_HTTP_ADDR, else the agent's default bind. */
export const DEFAULT_AGENT_ADDR = 'http://127.0.0.1:7948';

/**
 * connect() waits this long for a first sync before it gives up with AgentUnavailableError. Long
 * enough to ride out an agent that starts at the same moment as the application, short enough
 * that a missing agent is reported at once to the person starting the app.
 */
export const CONNECT_TIMEOUT_MS = 2_000;

/**
 * Reconnect to the agent with fully jittered exponential backoff: the first retry comes within
 * 100ms (an agent restart is a short gap), and the ceiling of 5s bounds how stale the tables stay
 * after the agent is back, while many SDKs on one host do not hammer a restarting agent together.
 */
export const RECONNECT_INITIAL_MS = 100;
export const RECONNECT_MAX_MS = 5_000;

/**
 * The agent writes an SSE comment every 15s; three missed keepalives mean the stream is dead
 * even if the socket looks open (a stopped or wedged agent), so the client reconnects.
 */
export const STREAM_IDLE_MS = 45_000;

/** A GET /v1/routes that takes longer than this counts as a failed sync (it is a local read). */
export const ROUTES_READ_TIMEOUT_MS = 5_000;

/** Retries after the first attempt. Istio's default route policy uses 2 (Envoy's own default is 1). */
export const RETRIES = 2;

/**
 * Retry backoff: Envoy's fully jittered exponential backoff, base 25ms, capped at 10 × base. The
 * retry goes to another host, so there is no reason to wait long; the jitter spreads retry bursts.
 */
export const RETRY_BASE_MS = 25;
export const RETRY_MAX_MS = 250;

/** Per-endpoint circuit breaker (passive outlier detection). */
export const BREAKER = {
  /** Envoy's consecutive_5xx (and Finagle's consecutiveFailures) default. */
  consecutiveFailures: 5,
  /** Finagle trips below an 80% success rate; Hystrix and opossum at 50% errors. We take 50%. */
  failureRateThreshold: 0.5,
  /** Hystrix's requestVolumeThreshold: no rate verdict on fewer calls than this in the window. */
  minimumRequests: 20,
  /** Hystrix and opossum roll a 10s window (in 10 buckets). */
  windowMs: 10_000,
  /**
   * First ejection lasts this long, then base × ejection count (Envoy). Envoy's base is 30s, but
   * the agent's health checks and routing already remove a dead instance within seconds, so the
   * local breaker only has to bridge that gap; 5s is Finagle's minimum dead time.
   */
  baseEjectionMs: 5_000,
  /** Envoy's max_ejection_time. */
  maxEjectionMs: 300_000,
  /** Envoy's outlier interval: each interval a host stays healthy takes one off its ejection count. */
  ejectionDecayMs: 10_000,
  /** Trial calls let through at once while half-open (cockatiel's and opossum's default is 1). */
  halfOpenMaxCalls: 1,
  /** Successful trials needed to close again. */
  halfOpenSuccesses: 1,
} as const;

/** HTTP statuses that fetch retries on another instance: Envoy's gateway-error (502/503/504). */
export const RETRY_STATUSES: readonly number[] = [502, 503, 504];

/** Statuses that count as an endpoint failure for its breaker: Envoy's consecutive_5xx counts all 5xx. */
export const FAILURE_STATUS_MIN = 500;

/**
 * A streamed request body is buffered up to this many bytes so that it can be sent again on
 * another instance; a longer one is sent once, without retries (Linkerd's limit is also 64 KiB).
 */
export const MAX_REPLAY_BODY_BYTES = 64 * 1024;

/** Reporting outcomes to the local agent (collective outlier detection; see observations.ts). */
export const OBSERVATIONS = {
  /**
   * The first failure of a burst goes at once (a second observer's first failure is what ejects
   * mesh-wide, so it must not wait); later ones go within this of the last failure batch, which
   * folds a burst into one request per 25 ms.
   */
  failureFlushMs: 25,
  /** Successes only: one batch a second is plenty to say "fine" (and to end an ejection by trial). */
  flushMs: 1_000,
  /** The agent accepts 256 endpoints per batch. */
  maxEndpointsPerBatch: 256,
  /** A local POST; a slow agent must not pile batches up. */
  requestTimeoutMs: 2_000,
} as const;

/**
 * Retry budget (Finagle's RetryBudget, Linkerd's default): retries may add at most 20% to the
 * requests of the last 10 s, plus a floor of 10 per second so a quiet service can still retry.
 * Under a total outage retries then add at most ~20% load instead of multiplying it by 1 + retries.
 */
export const RETRY_BUDGET = { ratio: 0.2, minPerSecond: 10, windowMs: 10_000 } as const;

/**
 * The breakers' safety limits (Envoy's max_ejection_percent and healthy_panic_threshold): at most
 * half of a service's endpoints are held out by this process's breakers at once (the earliest
 * tripped win), and when fewer than half would remain, breakers are ignored (panic): a shared
 * dependency failing every instance must degrade to errors from the instances, never to
 * NoHealthyEndpointError for every call. Half, not Envoy's 10%: a process's breakers see only its
 * own traffic and must still be able to avoid a bad instance of two.
 */
export const BREAKER_LIMITS = { maxEjectionShare: 0.5, panicThreshold: 0.5 } as const;
