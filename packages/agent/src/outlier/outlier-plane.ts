// The agent's side of collective outlier detection, as the Mesh uses it: local reports fold into
// opinions (opinion-fold.ts) whose changes are published in this node's record at a bounded rate,
// and the verdict (verdict.ts) is computed from the catalog at each routing evaluation.

import type { EndpointOpinion, NodeRecord } from '@vigil/protocol';
import type { MemberInput } from '../routing/types.ts';
import type { Runtime, TimerHandle } from '../runtime/index.ts';
import { type OutlierOptions, resolveOutlierOptions } from './defaults.ts';
import { type Observation, OpinionFolder } from './opinion-fold.ts';
import { computeVerdict, type OutlierVerdict } from './verdict.ts';

/**
 * At most one opinion-driven record per this many ms (10 per second): a flip is published at once,
 * flips in the next 100 ms ride together. Transitions, not calls, drive it, so this is rarely hit.
 */
export const OPINION_PUBLISH_MIN_MS = 100;

const EMPTY: OutlierVerdict = { ejected: [], held: [], discounted: [], nextChangeAt: null };

export class OutlierPlane {
  private readonly options: OutlierOptions;
  private readonly panicThreshold: number;
  private readonly runtime: Runtime;
  private readonly folder: OpinionFolder;
  private readonly publish: () => void;
  private lastPublish = Number.NEGATIVE_INFINITY;
  private pending: TimerHandle | undefined;
  private current: OutlierVerdict = EMPTY;
  private stopped = false;

  constructor(opts: {
    runtime: Runtime;
    options: Partial<OutlierOptions> | undefined;
    panicThreshold: number;
    publish: () => void;
  }) {
    this.options = resolveOutlierOptions(opts.options);
    this.panicThreshold = opts.panicThreshold;
    this.runtime = opts.runtime;
    this.publish = opts.publish;
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
  }

  private changed(): void {
    if (this.stopped || this.pending) return;
    const now = this.runtime.clock.now();
    const wait = this.lastPublish + OPINION_PUBLISH_MIN_MS - now;
    const fire = () => {
      this.pending = undefined;
      if (this.stopped) return;
      this.lastPublish = this.runtime.clock.now();
      this.publish();
    };
    if (wait <= 0) fire();
    else this.pending = this.runtime.timers.after(wait, fire);
  }
}
