import type { CheckResult, CheckStatus } from './status.ts';

export interface ThresholdConfig {
  /** Consecutive successes (passing or warning) before the check may leave critical. 0 = at once. */
  readonly successBeforePassing: number;
  /** Consecutive failures before the check turns warning. Defaults to failuresBeforeCritical. */
  readonly failuresBeforeWarning: number;
  /** Consecutive failures before the check turns critical. 0 = at once. */
  readonly failuresBeforeCritical: number;
}

/**
 * Flap damping with Consul's semantics (agent/checks StatusHandler): a result only changes the
 * check once enough consecutive results agree. A success resets the failure count and a failure
 * resets the success count. Below the warning threshold a failure changes nothing; between the
 * warning and critical thresholds it reports warning. Returns the result to apply, or undefined
 * to keep the current state.
 */
export class Thresholds {
  private successes = 0;
  private failures = 0;
  private readonly config: ThresholdConfig;

  constructor(config: ThresholdConfig) {
    this.config = config;
  }

  apply(result: CheckResult): CheckResult | undefined {
    if (result.status === 'passing' || result.status === 'warning') {
      this.successes++;
      this.failures = 0;
      return this.successes >= this.config.successBeforePassing ? result : undefined;
    }
    this.failures++;
    this.successes = 0;
    if (this.failures >= this.config.failuresBeforeCritical) return result;
    if (this.failures >= this.config.failuresBeforeWarning) {
      const status: CheckStatus = 'warning';
      return { status, output: result.output };
    }
    return undefined;
  }
}
