// Folds the outcome reports of every local client into one opinion per endpoint: this host's view.
// Reports arrive in batches (POST /v1/agent/observations); the fold keeps per-endpoint 1-second
// buckets over the window and moves each endpoint between failing, ok and idle. Only transitions
// change the published opinions, so a steady stream of calls costs no catalog traffic.
//
//   → failing  failures in the window ≥ minFailures and ≥ failureRate of the calls, or a client's
//              breaker opened on it (a client saw enough on its own)
//   → ok       a batch with successes and no failure, while failing or idle (a successful trial)
//   → idle     no report for a whole window (nobody calls it: say nothing stale)

import {
  type EndpointOpinion,
  MAX_OPINION_TRANSITIONS,
  MAX_OPINIONS_PER_NODE,
  type OpinionState,
  type OpinionTransition,
} from '@vigil/protocol';
import type { Runtime, TimerHandle } from '../runtime/index.ts';
import type { OutlierOptions } from './defaults.ts';

/** One client's outcomes against one endpoint since its last batch. */
export interface Observation {
  readonly service: string;
  readonly node: string;
  readonly id: string;
  readonly ok: number;
  readonly refused: number;
  readonly timeout: number;
  readonly http5xx: number;
  readonly other: number;
  /** Sum of the calls' latencies, ms. */
  readonly latencyMsSum: number;
  /** The client's breaker for this endpoint opened during the batch. */
  readonly breakerOpened?: boolean;
}

const BUCKET_MS = 1_000;
/** An endpoint idle this long is forgotten (its opinion leaves the record). */
const FORGET_AFTER_MS = 10 * 60_000;

interface Bucket {
  at: number;
  ok: number;
  refused: number;
  timeout: number;
  http5xx: number;
  other: number;
  latency: number;
}

interface Entry {
  readonly service: string;
  readonly node: string;
  readonly id: string;
  buckets: Bucket[];
  lastReport: number;
  transitions: OpinionTransition[];
  snapshot: Omit<EndpointOpinion, 'node' | 'id' | 'service' | 'transitions'>;
}

export class OpinionFolder {
  private readonly entries = new Map<string, Entry>();
  private readonly runtime: Runtime;
  private readonly options: OutlierOptions;
  private readonly onChange: () => void;
  private timer: TimerHandle | undefined;
  private stopped = false;
  private cached: EndpointOpinion[] | undefined;
  /** Endpoints whose opinion changed since the last takeChanged(). */
  private readonly dirty = new Set<string>();

  constructor(opts: { runtime: Runtime; options: OutlierOptions; onChange: () => void }) {
    this.runtime = opts.runtime;
    this.options = opts.options;
    this.onChange = opts.onChange;
  }

  /** Takes one batch; endpoints beyond the bound are refused (returns how many were taken). */
  report(batch: readonly Observation[]): number {
    const now = this.runtime.clock.wallNow();
    let taken = 0;
    let changed = false;
    for (const obs of batch) {
      const k = `${obs.node}\u0000${obs.id}`;
      let e = this.entries.get(k);
      if (e === undefined) {
        if (this.entries.size >= MAX_OPINIONS_PER_NODE && !this.evictOne(now)) continue;
        e = {
          service: obs.service,
          node: obs.node,
          id: obs.id,
          buckets: [],
          lastReport: now,
          transitions: [],
          snapshot: { ok: 0, refused: 0, timeout: 0, http5xx: 0, other: 0, latencyMs: 0 },
        };
        this.entries.set(k, e);
      }
      taken++;
      e.lastReport = now;
      const at = Math.floor(now / BUCKET_MS) * BUCKET_MS;
      let b = e.buckets[e.buckets.length - 1];
      if (b === undefined || b.at !== at) {
        b = { at, ok: 0, refused: 0, timeout: 0, http5xx: 0, other: 0, latency: 0 };
        e.buckets.push(b);
      }
      addInto(b, { ...obs, latency: obs.latencyMsSum });
      const failuresNow = obs.refused + obs.timeout + obs.http5xx + obs.other;
      const w = this.window(e, now);
      const failures = w.refused + w.timeout + w.http5xx + w.other;
      const calls = failures + w.ok;
      const state = current(e);
      let next: OpinionState | undefined;
      if (
        (failuresNow > 0 && obs.breakerOpened) ||
        (failures >= this.options.minFailures && failures >= this.options.failureRate * calls)
      ) {
        next = 'failing';
      } else if (failuresNow === 0 && obs.ok > 0 && state !== 'ok') {
        next = 'ok';
      } else if (state === undefined) {
        next = failures > 0 ? 'idle' : 'ok';
      }
      if (next !== undefined && next !== state) {
        this.transition(e, next, now, w);
        changed = true;
      }
    }
    this.arm();
    if (changed) this.changed();
    return taken;
  }

  /** The opinions to publish, sorted by node and id; failing ones first when over the bound. */
  opinions(): readonly EndpointOpinion[] {
    if (this.cached) return this.cached;
    const out: EndpointOpinion[] = [];
    for (const e of this.entries.values()) {
      if (e.transitions.length === 0) continue;
      out.push({ node: e.node, id: e.id, service: e.service, ...e.snapshot, transitions: e.transitions.slice() });
    }
    out.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.cached = out;
    return out;
  }

  /**
   * The opinions that changed since the last call (sorted like opinions()), for an update ahead of
   * the record. Forgotten endpoints are not in it: their removal travels in the record only.
   */
  takeChanged(): EndpointOpinion[] {
    const keys = new Set(this.dirty);
    this.dirty.clear();
    return this.opinions().filter((o) => keys.has(`${o.node}\u0000${o.id}`));
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Idle and forget checks, on a timer while anything is tracked. */
  private tick(): void {
    this.timer = undefined;
    const now = this.runtime.clock.wallNow();
    let changed = false;
    for (const [k, e] of this.entries) {
      if (now - e.lastReport >= FORGET_AFTER_MS) {
        this.entries.delete(k);
        this.dirty.delete(k);
        changed = true;
        continue;
      }
      if (now - e.lastReport >= this.options.windowMs && current(e) !== 'idle') {
        this.transition(e, 'idle', now, this.window(e, now));
        changed = true;
      }
    }
    this.arm();
    if (changed) this.changed();
  }

  private arm(): void {
    if (this.timer || this.stopped || this.entries.size === 0) return;
    this.timer = this.runtime.timers.after(this.options.windowMs / 4, () => this.tick());
  }

  private changed(): void {
    this.cached = undefined;
    this.onChange();
  }

  private transition(e: Entry, state: OpinionState, now: number, w: Bucket): void {
    this.dirty.add(`${e.node}\u0000${e.id}`);
    const calls = w.ok + w.refused + w.timeout + w.http5xx + w.other;
    e.snapshot = {
      ok: w.ok,
      refused: w.refused,
      timeout: w.timeout,
      http5xx: w.http5xx,
      other: w.other,
      latencyMs: calls === 0 ? 0 : Math.round(w.latency / calls),
    };
    // Strictly rising times keep the history a function of time even with two flips in one ms.
    const last = e.transitions[e.transitions.length - 1];
    const at = last !== undefined && now <= last.at ? last.at + 1 : Math.floor(now);
    e.transitions.push({ at, state });
    if (e.transitions.length > MAX_OPINION_TRANSITIONS) e.transitions.shift();
  }

  private window(e: Entry, now: number): Bucket {
    const from = now - this.options.windowMs;
    e.buckets = e.buckets.filter((b) => b.at + BUCKET_MS > from);
    const sum: Bucket = { at: now, ok: 0, refused: 0, timeout: 0, http5xx: 0, other: 0, latency: 0 };
    for (const b of e.buckets) addInto(sum, b);
    return sum;
  }

  /** Makes room: drops the idle endpoint reported least recently; false when none is idle. */
  private evictOne(_now: number): boolean {
    let victim: [string, Entry] | undefined;
    for (const kv of this.entries) {
      if (current(kv[1]) !== 'idle') continue;
      if (victim === undefined || kv[1].lastReport < victim[1].lastReport) victim = kv;
    }
    if (victim === undefined) return false;
    this.entries.delete(victim[0]);
    this.dirty.delete(victim[0]);
    return true;
  }
}

function addInto(sum: Bucket, b: Omit<Bucket, 'at'>): void {
  sum.ok += b.ok;
  sum.refused += b.refused;
  sum.timeout += b.timeout;
  sum.http5xx += b.http5xx;
  sum.other += b.other;
  sum.latency += b.latency;
}

function current(e: Entry): OpinionState | undefined {
  return e.transitions[e.transitions.length - 1]?.state;
}
