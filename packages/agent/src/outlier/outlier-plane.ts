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
 * The record that carries every opinion follows a change a verdict may wait for (see flush()) this
 * long after it. It is the repair path for a lost update (anti-entropy hands records out), and it
 * carries the changes no verdict waits for. Every record and every update costs every agent a
 * decode, a signature check and an evaluation on every gossip hop, so a busy host's many
 * transitions share one record.
 */
export const OPINION_RECORD_DELAY_MS = 5_000;

/**
 * Changes no verdict waits for (a first ok on an endpoint nobody ejects, ok going idle, an
 * endpoint forgotten) wait this long for a record, unless a record goes sooner anyway (a
 * registration, a health flip, an urgent change: every record carries every opinion). They only
 * tell other agents how many hosts this one calls, which matters to the discount of an observer
 * that sees something failing; while this host sees anything failing the record follows within
 * OPINION_RECORD_DELAY_MS as before. Measured with bench:outlier at N = 20 (3.5 s per trial):
 * hosts whose clients call healthy services published one record per ~5 s each, ~70 % of the
 * records every agent processed.
 */
export const OPINION_LAZY_RECORD_DELAY_MS = 30_000;

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
  private recordDueAt = Number.POSITIVE_INFINITY;
  /** Opinions changed since the last record without an update: the record owes them. */
  private readonly owed = new Set<string>();
  /** Silent views the last record left out (recordOpinions()). */
  private omitted = new Set<string>();
  /** The records of the last evaluation: what the mesh knows of other observers. */
  private lastRecords: readonly NodeRecord[] = [];
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
    this.lastRecords = records;
    this.sendOwedOnDemoted();
    this.sendOmittedOnFailure();
    return this.current;
  }

  /**
   * What this node's record carries: every opinion but the silent ones (idle, no failure in its
   * history) on endpoints that no record shows failing and the verdict neither ejects nor holds.
   * Such a view changes no verdict: the discount skips idle views, an episode needs failing
   * transitions, and its oks could only end an ejection of the endpoint, which would need a
   * failing view somewhere. It made up most of a record on hosts whose clients call many healthy
   * services (bench:outlier: ~200 B per endpoint called in the last 10 minutes, 17 KiB records
   * after 20 trials), and every agent decrypts, checks and forwards every record.
   */
  recordOpinions(): readonly EndpointOpinion[] {
    const all = this.folder.opinions();
    const silent = all.filter(isSilent);
    if (silent.length === 0) {
      this.omitted = new Set();
      return all;
    }
    const relevant = this.failingElsewhere(new Set(silent.map(opinionKey)));
    const omitted = new Set<string>();
    const out: EndpointOpinion[] = [];
    for (const o of all) {
      const k = opinionKey(o);
      if (isSilent(o) && !relevant.has(k)) omitted.add(k);
      else out.push(o);
    }
    this.omitted = omitted;
    return out;
  }

  /**
   * The caller built a record carrying every current opinion (for any reason: a registration, a
   * health flip, this plane's timer): whatever the record owed is paid, and so is its repair.
   */
  recordPublished(): void {
    this.owed.clear();
    this.recordDue?.cancel();
    this.recordDue = undefined;
    this.recordDueAt = Number.POSITIVE_INFINITY;
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
    this.recordDueAt = Number.POSITIVE_INFINITY;
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
   * the record. Waited for: a view turning failing or leaving failing (starts or ends a quorum),
   * and any change on an endpoint this agent sees ejected or held (a successful trial ends an
   * ejection). The rest (a first ok on a healthy endpoint, ok going idle: most transitions of a
   * mesh whose clients call healthy services) changes no verdict until a failure does, and that
   * failure is itself urgent; it waits for the record (OPINION_LAZY_RECORD_DELAY_MS). An update
   * too large for one message goes in the record at once. Returns whether it sent anything now.
   */
  private flush(): boolean {
    const changed = this.folder.takeChanged();
    if (changed.length === 0 && this.publishOpinions !== undefined) {
      // Only removals (forgotten endpoints): nobody waits for them.
      this.scheduleRecord(this.recordDelay());
      return false;
    }
    const urgent = changed.filter((o) => this.urgent(o));
    if (this.publishOpinions === undefined || urgent.length > MAX_OPINIONS_PER_UPDATE) {
      this.recordDue?.cancel();
      this.recordDue = undefined;
      this.recordDueAt = Number.POSITIVE_INFINITY;
      this.publish();
      return true;
    }
    for (const o of changed) if (!urgent.includes(o)) this.owed.add(opinionKey(o));
    if (urgent.length > 0) this.publishOpinions(urgent);
    this.scheduleRecord(urgent.length > 0 ? OPINION_RECORD_DELAY_MS : this.recordDelay());
    return urgent.length > 0;
  }

  private urgent(o: EndpointOpinion): boolean {
    const n = o.transitions.length;
    if (o.transitions[n - 1]?.state === 'failing' || o.transitions[n - 2]?.state === 'failing') return true;
    const held = (e: { node: string; id: string }) => e.node === o.node && e.id === o.id;
    return this.current.ejected.some(held) || this.current.held.some(held);
  }

  /**
   * While this host sees anything failing, its record decides whether it is a discounted
   * observer (how many hosts it calls at all): it follows within OPINION_RECORD_DELAY_MS.
   */
  private recordDelay(): number {
    const failing = this.folder.opinions().some((o) => o.transitions.at(-1)?.state === 'failing');
    return failing ? OPINION_RECORD_DELAY_MS : OPINION_LAZY_RECORD_DELAY_MS;
  }

  /**
   * A change that waited for the record on an endpoint the verdict now ejects or holds (this
   * agent learned of the ejection after the change: an ok here may be the trial that ends it)
   * goes out now, as it would have had the ejection been known.
   */
  private sendOwedOnDemoted(): void {
    if (this.owed.size === 0 || this.publishOpinions === undefined || this.stopped) return;
    const keys = new Set<string>();
    for (const e of [...this.current.ejected, ...this.current.held]) {
      const k = opinionKey(e);
      if (this.owed.delete(k)) keys.add(k);
    }
    if (keys.size === 0) return;
    const due = this.folder.opinions().filter((o) => keys.has(opinionKey(o)));
    if (due.length > 0) this.publishOpinions(due);
    this.scheduleRecord(OPINION_RECORD_DELAY_MS);
  }

  /**
   * A view the record left out became relevant (a record now shows its endpoint failing, or the
   * verdict ejects or holds it): its oks may end an ejection, so it goes out at once, and the
   * next record carries it again.
   */
  private sendOmittedOnFailure(): void {
    if (this.omitted.size === 0 || this.stopped) return;
    const relevant = this.failingElsewhere(this.omitted);
    if (relevant.size === 0) return;
    for (const k of relevant) this.omitted.delete(k);
    const due = this.folder.opinions().filter((o) => relevant.has(opinionKey(o)));
    if (due.length > 0 && this.publishOpinions !== undefined && due.length <= MAX_OPINIONS_PER_UPDATE) {
      this.publishOpinions(due);
      this.scheduleRecord(OPINION_RECORD_DELAY_MS);
    } else {
      this.scheduleRecord(0);
    }
  }

  /** Of `keys`, the endpoints some record's opinion has seen failing, or the verdict ejects or holds. */
  private failingElsewhere(keys: ReadonlySet<string>): Set<string> {
    const out = new Set<string>();
    for (const e of [...this.current.ejected, ...this.current.held]) {
      const k = opinionKey(e);
      if (keys.has(k)) out.add(k);
    }
    for (const r of this.lastRecords) {
      for (const o of r.opinions ?? []) {
        const k = opinionKey(o);
        if (keys.has(k) && !out.has(k) && o.transitions.some((t) => t.state === 'failing')) out.add(k);
      }
    }
    return out;
  }

  /** The record goes within `ms`: an earlier deadline replaces a later one. */
  private scheduleRecord(ms: number): void {
    const at = this.runtime.clock.now() + ms;
    if (this.recordDue !== undefined && this.recordDueAt <= at) return;
    this.recordDue?.cancel();
    this.recordDueAt = at;
    this.recordDue = this.runtime.timers.after(ms, () => {
      this.recordDue = undefined;
      this.recordDueAt = Number.POSITIVE_INFINITY;
      if (!this.stopped) this.publish();
    });
  }
}

/** Idle, and no failure in its history: says nothing a verdict reads (see recordOpinions()). */
function isSilent(o: EndpointOpinion): boolean {
  return o.transitions.at(-1)?.state === 'idle' && o.transitions.every((t) => t.state !== 'failing');
}

function opinionKey(o: { node: string; id: string }): string {
  return `${o.node}\u0000${o.id}`;
}
