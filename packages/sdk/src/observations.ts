import { Agent, request } from 'undici';
import { OBSERVATIONS } from './defaults.ts';
import { AttemptTimeoutError } from './errors.ts';
import type { Endpoint } from './service-routes.ts';

/** What one attempt's outcome says about its endpoint. */
export type OutcomeClass = 'ok' | 'refused' | 'timeout' | 'http5xx' | 'other';

const REFUSED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET']);
const TIMEOUT = new Set([
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'VIGIL_ATTEMPT_TIMEOUT',
]);

/** Sorts a failed attempt into connect refused, timeout, 5xx or other, from its error or result. */
export function classifyFailure(outcome: { error?: unknown; result?: unknown }): Exclude<OutcomeClass, 'ok'> {
  const status = statusOf(outcome.error) ?? statusOf(outcome.result);
  if (status !== undefined && status >= 500) return 'http5xx';
  if (outcome.error instanceof AttemptTimeoutError) return 'timeout';
  for (let e: unknown = outcome.error, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && REFUSED.has(code)) return 'refused';
    if (typeof code === 'string' && TIMEOUT.has(code)) return 'timeout';
    e = (e as { cause?: unknown }).cause;
  }
  return 'other';
}

function statusOf(v: unknown): number | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const s = (v as { status?: unknown; statusCode?: unknown }).status ?? (v as { statusCode?: unknown }).statusCode;
  return typeof s === 'number' ? s : undefined;
}

interface Pending {
  service: string;
  node: string;
  id: string;
  ok: number;
  refused: number;
  timeout: number;
  http5xx: number;
  other: number;
  latencyMsSum: number;
  breakerOpened: boolean;
}

export interface ObservationStats {
  batches: number;
  sent: number;
  failedBatches: number;
  droppedEndpoints: number;
}

/**
 * Reports this process's outcomes per endpoint to the local agent (POST /v1/agent/observations),
 * which folds every local client's reports into this host's opinion for collective outlier
 * detection. Batches are small and frequent: the first failure of a burst at once (a second
 * observer's first failure is what ejects mesh-wide, so it must not wait), the rest of the burst
 * within 25 ms of the last failure batch, successes every second, and at once when a breaker
 * opens. A lost batch is dropped, never retried: newer outcomes follow.
 */
export class ObservationReporter {
  readonly stats: ObservationStats = { batches: 0, sent: 0, failedBatches: 0, droppedEndpoints: 0 };
  private warnedRefusal = false;
  private pending = new Map<string, Pending>();
  private failing = false;
  /** performance.now() of the last batch that held a failure: a burst folds into one per 25 ms. */
  private lastFailureBatch = Number.NEGATIVE_INFINITY;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private due = 0;
  private inFlight: Promise<void> | undefined;
  private closed = false;
  /**
   * Two connections: a batch must not wait for the agent's answer to the one before (HTTP/1.1
   * without pipelining queues it on a single connection), or the first failure of a burst, which
   * goes at once, would wait behind a success batch for as long as the agent is busy.
   */
  private readonly dispatcher = new Agent({ connections: 2, keepAliveTimeout: 10_000 });
  private readonly url: string;
  private readonly headers: Record<string, string>;

  constructor(agent: string, token: string | undefined) {
    this.url = `${agent}/v1/agent/observations`;
    this.headers = { 'content-type': 'application/json', ...(token ? { 'x-vigil-token': token } : {}) };
  }

  record(endpoint: Endpoint, outcome: OutcomeClass, latencyMs: number, breakerOpened: boolean): void {
    if (this.closed) return;
    let p = this.pending.get(endpoint.key);
    if (p === undefined) {
      if (this.pending.size >= OBSERVATIONS.maxEndpointsPerBatch) {
        this.stats.droppedEndpoints++;
        return;
      }
      p = {
        service: endpoint.service,
        node: endpoint.node,
        id: endpoint.id,
        ok: 0,
        refused: 0,
        timeout: 0,
        http5xx: 0,
        other: 0,
        latencyMsSum: 0,
        breakerOpened: false,
      };
      this.pending.set(endpoint.key, p);
    }
    p[outcome]++;
    p.latencyMsSum += Math.max(0, Math.round(latencyMs));
    if (breakerOpened) p.breakerOpened = true;
    if (breakerOpened) {
      this.schedule(0);
    } else if (outcome !== 'ok' && !this.failing) {
      this.failing = true;
      this.schedule(Math.max(0, this.lastFailureBatch + OBSERVATIONS.failureFlushMs - performance.now()));
    } else {
      this.schedule(OBSERVATIONS.flushMs);
    }
  }

  /** Sends what is pending and stops. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
    this.closed = true;
    await this.inFlight;
    await this.dispatcher.close();
  }

  /** Flushes within `ms`: an earlier deadline replaces a later one (a failure after successes). */
  private schedule(ms: number): void {
    const due = performance.now() + ms;
    if (this.timer !== undefined) {
      if (due >= this.due) return;
      clearTimeout(this.timer);
    }
    this.due = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, ms);
    this.timer.unref?.();
  }

  private async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const observations = [...this.pending.values()].map(({ breakerOpened, ...rest }) =>
      breakerOpened ? { ...rest, breakerOpened } : rest,
    );
    if (observations.some((o) => o.refused + o.timeout + o.http5xx + o.other > 0)) {
      this.lastFailureBatch = performance.now();
    }
    this.pending = new Map();
    this.failing = false;
    this.stats.batches++;
    const send = (async () => {
      try {
        const res = await request(this.url, {
          method: 'POST',
          headers: this.headers,
          body: JSON.stringify({ observations }),
          dispatcher: this.dispatcher,
          headersTimeout: OBSERVATIONS.requestTimeoutMs,
          bodyTimeout: OBSERVATIONS.requestTimeoutMs,
        });
        const refusal = res.statusCode === 401 || res.statusCode === 403 ? await res.body.text() : undefined;
        if (refusal === undefined) await res.body.dump();
        if (res.statusCode === 200) this.stats.sent += observations.length;
        else this.stats.failedBatches++;
        // A refusal does not pass with time as an agent restart does: tell the application once,
        // or it would never learn that its outcomes stopped counting.
        if (refusal !== undefined && !this.warnedRefusal) {
          this.warnedRefusal = true;
          process.emitWarning(
            `the Vigil agent refused this client's outcome reports (${res.statusCode}): ${refusal.slice(0, 200)}; ` +
              'pass connect({ token }) or set VIGIL_HTTP_TOKEN',
            { code: 'VIGIL_OBSERVATIONS_REFUSED' },
          );
        }
      } catch {
        // The agent is away (restarting): the next batch carries newer outcomes anyway.
        this.stats.failedBatches++;
      }
    })();
    this.inFlight = send;
    await send;
  }
}
