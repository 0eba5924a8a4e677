import type { CheckResult } from './status.ts';

/** What one run of a polling check gets: a signal that aborts on timeout or agent stop. */
export interface ProbeContext {
  readonly signal: AbortSignal;
  readonly outputMaxSize: number;
  /** Extra environment for exec probes (election hooks pass VIGIL_SERVICE, VIGIL_ROLE, ...). */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * One run of a check. It must settle soon after the signal aborts, having released what it holds
 * (sockets, child processes); the runner turns a timed-out run into critical itself.
 */
export type Probe = (ctx: ProbeContext) => Promise<CheckResult>;
