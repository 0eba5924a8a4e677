/**
 * The SDK's typed errors. Each one names what failed and says what to do about it; `code` is stable
 * for programs, the message is for people.
 */
export class VigilError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** No agent answered at the configured address (cold start, or `ready()` timed out). */
export class AgentUnavailableError extends VigilError {
  readonly agent: string;
  constructor(agent: string, cause?: unknown) {
    const why = cause instanceof Error ? ` (${describeCause(cause)})` : '';
    super(
      'VIGIL_AGENT_UNAVAILABLE',
      `no Vigil agent answered at ${agent}${why}. Start the agent on this host (\`vigil agent ...\`), ` +
        'or point the SDK at it with connect({ agent: "http://HOST:PORT" }) or the VIGIL_HTTP_ADDR environment variable',
      { cause },
    );
    this.agent = agent;
  }
}

/** The agent answered, but not with what the SDK needs (an HTTP error, or a body it cannot read). */
export class AgentResponseError extends VigilError {
  readonly agent: string;
  readonly path: string;
  readonly status: number;
  constructor(agent: string, path: string, status: number, detail: string) {
    const hint =
      status === 403 && /does not name this agent/.test(detail)
        ? ' Reach the agent by its IP address or localhost, or start it with --http-allowed-host NAME.'
        : status === 403
          ? ' Pass the agent ACL token as connect({ token }) or VIGIL_HTTP_TOKEN.'
          : status === 404
            ? ' The agent does not serve the routing API: upgrade it to a version with GET /v1/routes.'
            : '';
    super('VIGIL_AGENT_RESPONSE', `the Vigil agent at ${agent} answered ${path} with ${status}: ${detail}.${hint}`);
    this.agent = agent;
    this.path = path;
    this.status = status;
  }
}

/** The service is not in the routing table the SDK holds. */
export class UnknownServiceError extends VigilError {
  readonly service: string;
  constructor(service: string, known: readonly string[]) {
    const list = known.length === 0 ? 'the table is empty' : `known: ${known.slice(0, 20).join(', ')}`;
    super(
      'VIGIL_UNKNOWN_SERVICE',
      `service "${service}" is not in the routing table (${list}). Check the name, and that an agent in the cluster registers it`,
    );
    this.service = service;
  }
}

/** Every endpoint of the service is ejected by its breaker (or the table lists none). */
export class NoHealthyEndpointError extends VigilError {
  readonly service: string;
  readonly endpoints: number;
  constructor(service: string, endpoints: number, cause?: unknown) {
    super(
      'VIGIL_NO_HEALTHY_ENDPOINT',
      endpoints === 0
        ? `service "${service}" has no endpoints in the routing table`
        : `service "${service}" has no usable endpoint: all ${endpoints} are ejected by their circuit breakers (see client.stats())`,
      { cause },
    );
    this.service = service;
    this.endpoints = endpoints;
  }
}

/** One attempt took longer than `timeoutMs`. Counts as a failure of that endpoint; retried. */
export class AttemptTimeoutError extends VigilError {
  readonly service: string;
  readonly endpoint: string;
  readonly timeoutMs: number;
  constructor(service: string, endpoint: string, timeoutMs: number) {
    super('VIGIL_ATTEMPT_TIMEOUT', `attempt on ${service} at ${endpoint} timed out after ${timeoutMs}ms (timeoutMs)`);
    this.service = service;
    this.endpoint = endpoint;
    this.timeoutMs = timeoutMs;
  }
}

/** The whole call (queueing, attempts and backoff) ran past `deadlineMs`. */
export class DeadlineExceededError extends VigilError {
  readonly service: string;
  readonly deadlineMs: number;
  readonly attempts: number;
  constructor(service: string, deadlineMs: number, attempts: number, cause?: unknown) {
    super(
      'VIGIL_DEADLINE_EXCEEDED',
      `call to ${service} ran past its ${deadlineMs}ms deadline after ${attempts} attempt(s)`,
      cause === undefined ? undefined : { cause },
    );
    this.service = service;
    this.deadlineMs = deadlineMs;
    this.attempts = attempts;
  }
}

/** The service's bulkhead is full: `concurrency` calls run and `queue` more wait. */
export class BulkheadRejectedError extends VigilError {
  readonly service: string;
  readonly concurrency: number;
  readonly queue: number;
  constructor(service: string, concurrency: number, queue: number) {
    super(
      'VIGIL_BULKHEAD_FULL',
      `bulkhead for ${service} is full (${concurrency} running, ${queue} queued): shed load or raise bulkhead limits`,
    );
    this.service = service;
    this.concurrency = concurrency;
    this.queue = queue;
  }
}

/** The client was closed; create a new one with connect(). */
export class ClientClosedError extends VigilError {
  constructor() {
    super('VIGIL_CLIENT_CLOSED', 'the Vigil client is closed; create a new one with connect()');
  }
}

export function describeCause(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  const inner = err.cause instanceof Error ? err.cause : undefined;
  const innerCode = inner ? (inner as { code?: unknown }).code : undefined;
  if (typeof innerCode === 'string') return innerCode;
  if (typeof code === 'string' && code !== '') return `${code}: ${err.message}`;
  return err.message;
}
