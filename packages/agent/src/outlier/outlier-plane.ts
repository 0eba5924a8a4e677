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
 * in the next 100 ms ride together. Transitions, not calls, drive it, so this is rarely hit. Only
 * what was sent counts: a flip that waits for the record (a first ok, ok going idle) must not hold
 * back a failure right after it (it did, by up to 100 ms, on the second observer's path).
 */
export const OPINION_PUBLISH_MIN_MS = 100;

/**
 * The record that carries every opinion follows a change this long after the first one it
 * covers. It is the repair path (anti-entropy hands records out), so a lost update is healed
 * within about this, and it carries the changes no verdict waits for (see flush()). Every record
 * and every update costs every agent a routing evaluation (~3-10 ms of CPU measured with 20
 * services on the shared host), so a busy host's many transitions share one record.
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
      if (this.flush()) this.lastPublish = this.runtime.clock.now();
    };
    if (wait <= 0) fire();
    else this.pending = this.runtime.timers.after(wait, fire);
  }

  /**
   * The changes a verdict may be waiting for go out at once as an update; every change goes in
   * the record, which follows within OPINION_RECORD_DELAY_MS. Waited for: a view turning failing
   * or leaving failing (starts or ends a quorum), and any change on an endpoint this agent sees
   * ejected or held (a successful trial ends an ejection). The rest (a first ok on a healthy
   * endpoint, ok going idle: most transitions of a mesh whose clients call healthy services)
   * changes no verdict until a failure does, and that failure is itself urgent. An update too large
   * for one message goes in the record at once. Returns whether it sent anything now.
   */
  private flush(): boolean {
    const changed = this.folder.takeChanged();
    if (changed.length === 0 && this.publishOpinions !== undefined) {
      // Only removals (forgotten endpoints): nobody waits for them.
      this.scheduleRecord();
      return false;
    }
    const urgent = changed.filter((o) => this.urgent(o));
    if (this.publishOpinions === undefined || urgent.length > MAX_OPINIONS_PER_UPDATE) {
      this.recordDue?.cancel();
      this.recordDue = undefined;
      this.publish();
      return true;
    }
    if (urgent.length > 0) this.publishOpinions(urgent);
    this.scheduleRecord();
    return urgent.length > 0;
  }

  private urgent(o: EndpointOpinion): boolean {
    const n = o.transitions.length;
    if (o.transitions[n - 1]?.state === 'failing' || o.transitions[n - 2]?.state === 'failing') return true;
    const held = (e: { node: string; id: string }) => e.node === o.node && e.id === o.id;
    return this.current.ejected.some(held) || this.current.held.some(held);
  }

  private scheduleRecord(): void {
    this.recordDue ??= this.runtime.timers.after(OPINION_RECORD_DELAY_MS, () => {
      this.recordDue = undefined;
      if (!this.stopped) this.publish();
    });
  }
}
