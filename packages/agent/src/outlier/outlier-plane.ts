// The agent's side of collective outlier detection, as the Mesh uses it: local reports fold into
// opinions (opinion-fold.ts) whose changes are published at a bounded rate as small opinion
// updates (catalog/opinion-codec.ts), followed by this node's record carrying all of them, and the
// verdict (verdict.ts) is computed from the catalog at each routing evaluation.

import { type EndpointOpinion, MAX_OPINIONS_PER_UPDATE, type NodeRecord } from '@vigil/protocol';
import type { MemberInput } from '../routing/types.ts';
import type { Runtime, TimerHandle } from '../runtime/index.ts';
import { type OutlierOptions, resolveOutlierOptions } from './defaults.ts';
import { type Observation, OpinionFolder } from './opinion-fold.ts';
import { computeVerdict, type OutlierVerdict } from './verdict.ts';

/**
 * At most one opinion update per this many ms (10 per second): a flip is published at once, flips
 * in the next 100 ms ride together. Transitions, not calls, drive it, so this is rarely hit.
 */
export const OPINION_PUBLISH_MIN_MS = 100;

/**
 * The record that carries every opinion follows the updates this long after the first one it
 * covers. It is the repair path (anti-entropy hands records out), so a lost update is healed
 * within about this; and it costs every agent a decode of the whole record, so the updates of a
 * busy host (ok, failing and idle transitions of many endpoints) share one record instead of
 * one record each. Measured in scripts/bench/outlier.ts (see the README).
 */
export const OPINION_RECORD_DELAY_MS = 5_000;

const EMPTY: OutlierVerdict = { ejected: [], held: [], discounted: [], nextChangeAt: null };

export class OutlierPlane {
  private readonly options: OutlierOptions;
  private readonly panicThreshold: number;
  private readonly runtime: Runtime;
  private readonly folder: OpinionFolder;
  private readonly publish: () => void;
  private readonly publishOpinions: ((changed: readonly EndpointOpinion[]) => void) | undefined;
  private lastPublish = Number.NEGATIVE_INFINITY;
  private pending: TimerHandle | undefined;
  private recordDue: TimerHandle | undefined;
  private current: OutlierVerdict = EMPTY;
  private stopped = false;

  constructor(opts: {
    runtime: Runtime;
    options: Partial<OutlierOptions> | undefined;
    panicThreshold: number;
    /** Publish this node's record (with opinions()). */
    publish: () => void;
    /**
     * Publish these changed opinions ahead of the record. Without it every change publishes the
     * record at once.
     */
    publishOpinions?: (changed: readonly EndpointOpinion[]) => void;
  }) {
    this.options = resolveOutlierOptions(opts.options);
    this.panicThreshold = opts.panicThreshold;
    this.runtime = opts.runtime;
    this.publish = opts.publish;
    this.publishOpinions = opts.publishOpinions;
    this.folder = new OpinionFolder({ runtime: opts.runtime, options: this.options, onChange: () => this.changed() });
  }

  report(batch: readonly Observation[]): number {
    return this.folder.report(batch);
  }

  opinions(): readonly EndpointOpinion[] {
    return this.folder.opinions();
  }

  evaluate(records: readonly NodeRecord[], members: readonly MemberInput[], now: number): OutlierVerdict {
    this.current = computeVerdict({
      records,
      members,
      now,
      panicThreshold: this.panicThreshold,
      options: this.options,
    });
    return this.current;
  }

  verdict(): OutlierVerdict {
    return this.current;
  }

  stop(): void {
    this.stopped = true;
    this.folder.stop();
    this.pending?.cancel();
    this.pending = undefined;
    this.recordDue?.cancel();
    this.recordDue = undefined;
  }

  private changed(): void {
    if (this.stopped || this.pending) return;
    const now = this.runtime.clock.now();
    const wait = this.lastPublish + OPINION_PUBLISH_MIN_MS - now;
    const fire = () => {
      this.pending = undefined;
      if (this.stopped) return;
      this.lastPublish = this.runtime.clock.now();
      this.flush();
    };
    if (wait <= 0) fire();
    else this.pending = this.runtime.timers.after(wait, fire);
  }

  /**
   * The changes go out as an update, and the record follows within OPINION_RECORD_DELAY_MS. A
   * change an update cannot say (an endpoint forgotten) or too large for one goes in the record
   * at once.
   */
  private flush(): void {
    const changed = this.folder.takeChanged();
    if (this.publishOpinions === undefined || changed.length === 0 || changed.length > MAX_OPINIONS_PER_UPDATE) {
      this.recordDue?.cancel();
      this.recordDue = undefined;
      this.publish();
      return;
    }
    this.publishOpinions(changed);
    this.recordDue ??= this.runtime.timers.after(OPINION_RECORD_DELAY_MS, () => {
      this.recordDue = undefined;
      if (!this.stopped) this.publish();
    });
  }
}
