import { formatDuration } from '../base/duration.ts';
import { type Runtime, randomInt, realRuntime, type TimerHandle } from '../runtime/index.ts';
import type { CheckDefinition, PollingCheckSpec } from './check-spec.ts';
import { runExecCheck } from './exec-check.ts';
import { runGrpcCheck } from './grpc-check.ts';
import { runHttpCheck } from './http-check.ts';
import type { Probe } from './probe.ts';
import type { CheckResult } from './status.ts';
import { runTcpCheck } from './tcp-check.ts';
import { Thresholds } from './thresholds.ts';

export type PollingCheck = CheckDefinition & PollingCheckSpec;

export function isPolling(check: CheckDefinition): check is PollingCheck {
  return check.type !== 'ttl';
}

/** The probe for a check definition. */
export function probeFor(check: PollingCheck): Probe {
  switch (check.type) {
    case 'http':
      return (ctx) => runHttpCheck(check, ctx);
    case 'tcp':
      return (ctx) => runTcpCheck(check, ctx);
    case 'exec':
      return (ctx) => runExecCheck(check, ctx);
    case 'grpc':
      return (ctx) => runGrpcCheck(check, ctx);
  }
}

function describe(check: PollingCheck): string {
  switch (check.type) {
    case 'http':
      return `HTTP ${check.method} ${check.url}`;
    case 'tcp':
      return `TCP connect ${check.address}`;
    case 'exec':
      return `exec ${check.args.join(' ')}`;
    case 'grpc':
      return `gRPC check ${check.target}`;
  }
}

export interface CheckRunnerOptions {
  readonly check: PollingCheck;
  /** Called with each result that passes the thresholds. */
  readonly onResult: (result: CheckResult) => void;
  /** Defaults to the probe for the check's type; tests pass their own. */
  readonly probe?: Probe;
  /**
   * Delay before the first run. Default: a random stagger within the interval, as Consul does, so
   * that checks registered together do not fire together.
   */
  readonly firstDelayMs?: number;
  /** Called if onResult throws; the runner keeps going. */
  readonly onError?: (err: Error) => void;
  /** Timers and the first-run stagger's randomness (default realRuntime()). */
  readonly runtime?: Runtime;
  /** Called after every run with how long the probe took, ms (for /metrics). */
  readonly onRun?: (durationMs: number) => void;
}

/**
 * Runs one polling check: every `interval` (counted from the end of the previous run, so runs
 * never overlap), with a timeout that aborts the run, through the thresholds. `stop()` clears the
 * timer, aborts a run in flight (killing an exec check's processes) and waits for it to settle.
 */
export class CheckRunner {
  private readonly check: PollingCheck;
  private readonly probe: Probe;
  private readonly onResult: (result: CheckResult) => void;
  private readonly thresholds: Thresholds;
  private readonly firstDelayMs: number;
  private readonly onError: ((err: Error) => void) | undefined;
  private readonly runtime: Runtime;
  private timer: TimerHandle | undefined;
  private readonly onRun: ((durationMs: number) => void) | undefined;
  private inFlight: { controller: AbortController; done: Promise<void> } | undefined;
  private stopped = false;
  private started = false;

  constructor(options: CheckRunnerOptions) {
    this.check = options.check;
    this.probe = options.probe ?? probeFor(options.check);
    this.onResult = options.onResult;
    this.onError = options.onError;
    this.onRun = options.onRun;
    this.thresholds = new Thresholds(options.check);
    this.runtime = options.runtime ?? realRuntime();
    this.firstDelayMs = options.firstDelayMs ?? randomInt(this.runtime.random, options.check.intervalMs);
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.schedule(this.firstDelayMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    const run = this.inFlight;
    if (run) {
      run.controller.abort(new Error('check stopped'));
      await run.done;
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = this.runtime.timers.after(delayMs, () => {
      this.timer = undefined;
      const controller = new AbortController();
      const done = this.runOnce(controller).finally(() => {
        this.inFlight = undefined;
        this.schedule(this.check.intervalMs);
      });
      this.inFlight = { controller, done };
    });
  }

  private async runOnce(controller: AbortController): Promise<void> {
    let timedOut = false;
    const timeout = this.runtime.timers.after(this.check.timeoutMs, () => {
      timedOut = true;
      controller.abort(new Error('check timed out'));
    });
    let result: CheckResult;
    const started = this.runtime.clock.now();
    try {
      result = await this.probe({ signal: controller.signal, outputMaxSize: this.check.outputMaxSize });
    } catch (err) {
      result = { status: 'critical', output: `${describe(this.check)}: ${(err as Error).message}` };
    } finally {
      timeout.cancel();
    }
    if (this.stopped) return; // aborted by stop(): not a result
    this.onRun?.(this.runtime.clock.now() - started);
    if (timedOut) {
      const partial = this.check.type === 'exec' && result.output ? `\n${result.output}` : '';
      result = {
        status: 'critical',
        output: `${describe(this.check)}: timed out after ${formatDuration(this.check.timeoutMs)}${partial}`,
      };
    }
    const applied = this.thresholds.apply(result);
    if (!applied) return;
    try {
      this.onResult(applied);
    } catch (err) {
      this.onError?.(err as Error);
    }
  }
}
