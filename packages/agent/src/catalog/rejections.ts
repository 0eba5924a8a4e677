// Refused input from the network, counted by reason and logged at a bounded rate: records
// (record-intake.ts) and opinion updates (opinion-intake.ts) share the reasons and the policy.

import { RateLimitedWarner } from '../base/rate-limited-warner.ts';
import type { Logger } from '../log.ts';
import type { Clock } from '../runtime/index.ts';
import { RecordError, type RecordRejection } from './record-codec.ts';

/** At most one warning per reason per this many ms (the rest are counted). */
const REJECTION_LOG_INTERVAL_MS = 10_000;

export class Rejections {
  readonly counts: Record<RecordRejection, number> = {
    malformed: 0,
    'too-large': 0,
    'invalid-name': 0,
    'unknown-node': 0,
    'wrong-signer': 0,
    'bad-signature': 0,
  };
  private readonly log: Logger;
  private readonly what: string;
  private readonly warner: RateLimitedWarner<RecordRejection>;

  /** `what` names the input in log lines ("record", "opinion update"). */
  constructor(log: Logger, clock: Clock, what: string) {
    this.log = log;
    this.what = what;
    this.warner = new RateLimitedWarner(REJECTION_LOG_INTERVAL_MS, () => clock.now());
  }

  /** Counts `err` (anything not a RecordError is a bug, counted as malformed) and returns its reason. */
  take(err: unknown, fields: Record<string, unknown>): RecordRejection {
    if (!(err instanceof RecordError)) {
      this.log.error({ err, ...fields }, `catalog: unexpected error checking a ${this.what}`);
      this.counts.malformed++;
      return 'malformed';
    }
    this.counts[err.reason]++;
    // From a node membership does not know yet is normal during joins: anti-entropy retries once
    // membership catches up. Everything else is worth a (rate-limited) warning.
    if (err.reason === 'unknown-node') {
      this.log.debug({ ...fields, reason: err.reason }, `catalog: ${this.what} dropped: ${err.message}`);
    } else {
      this.warner.warn(
        this.log,
        err.reason,
        { ...fields, reason: err.reason },
        `catalog: ${this.what} rejected: ${err.message}`,
      );
    }
    return err.reason;
  }
}
