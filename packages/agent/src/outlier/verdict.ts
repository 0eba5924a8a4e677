// The mesh-wide outlier verdict: from the catalog (every host's signed opinions, with the times
// each observer carried) and the membership view to the set of ejected endpoints. A pure function:
// agents holding the same records and members compute the same verdict at the same `now`, whatever
// order or moment the records reached them.
//
// Per endpoint (an instance in the catalog):
//   observers  live hosts other than the endpoint's own, not discounted (observer-discount.ts),
//              with an opinion on it.
//   episodes   replayed from the observers' transition histories, oldest first: an ejection
//              begins at the first failing transition at which at least `quorum` observers are
//              failing, each in a failing state that began after the previous ejection ended
//              (a stale view from before it cannot re-eject). It lasts base × count, capped; the
//              count grows with each ejection and drops by one per window spent un-ejected
//              (Envoy). A successful trial (an observer's transition to ok) ends it early, unless
//              the flap penalty (damping.ts) suppresses the endpoint, which then stays out until
//              the penalty decays to the reuse limit.
//   limits     per service, endpoints whose episode is running are ejected oldest first while
//              the ejected stay within the max-ejection share (at least one) and the healthy
//              that remain stay at or above the panic threshold; the rest are held (reported).

import type { DemotionObserver, EndpointOpinion, NodeRecord, OpinionTransition } from '@vigil/protocol';
import { compareStrings } from '../routing/canonical.ts';
import { mergeCatalogs } from '../routing/catalog-merge.ts';
import { nodeConditions } from '../routing/eligibility.ts';
import type { MemberInput } from '../routing/types.ts';
import { addFlap, NO_PENALTY, type Penalty, suppressedUntil } from './damping.ts';
import { type OutlierOptions, resolveOutlierOptions } from './defaults.ts';
import { type ObserverHealth, observerHealth } from './observer-discount.ts';

export interface VerdictInput {
  readonly records: readonly NodeRecord[];
  readonly members: readonly MemberInput[];
  /** Wall-clock ms. */
  readonly now: number;
  /** Routing's panic threshold: never eject below it. */
  readonly panicThreshold: number;
  readonly options?: Partial<OutlierOptions>;
}

export interface Ejection {
  readonly service: string;
  readonly node: string;
  readonly id: string;
  readonly since: number;
  readonly until: number;
  /** This ejection's count (1 for the first in a while). */
  readonly ejections: number;
  /** Flap penalty at the ejection's start. */
  readonly penalty: number;
  readonly damped: boolean;
  /** The observers that were failing when it began, with what they saw. */
  readonly observers: readonly DemotionObserver[];
}

export interface HeldEjection extends Ejection {
  readonly heldBy: 'max-ejection' | 'panic';
}

export interface OutlierVerdict {
  /** Sorted by service, node, id. */
  readonly ejected: readonly Ejection[];
  readonly held: readonly HeldEjection[];
  /** Observers currently discounted, sorted by name. */
  readonly discounted: readonly ObserverHealth[];
  /** When an ejection ends: evaluate again then. */
  readonly nextChangeAt: number | null;
}

interface Track {
  readonly observer: string;
  readonly opinion: EndpointOpinion;
}

const key = (node: string, id: string) => `${node}\u0000${id}`;

export function computeVerdict(input: VerdictInput): OutlierVerdict {
  const o = resolveOutlierOptions(input.options);
  const conditions = nodeConditions(input.members);
  const live = (node: string) => {
    const c = conditions.get(node);
    return c === 'alive' || c === 'suspect' || c === 'confirmed-suspect';
  };
  const records = mergeCatalogs(input.records).filter((r) => conditions.get(r.node) !== undefined);

  const discounted: ObserverHealth[] = [];
  const tracks = new Map<string, Track[]>();
  for (const r of records) {
    if (!live(r.node) || !r.opinions?.length) continue;
    const health = observerHealth(r.node, r.opinions, o);
    if (health.discounted) {
      discounted.push(health);
      continue;
    }
    for (const opinion of r.opinions) {
      if (opinion.node === r.node) continue;
      const k = key(opinion.node, opinion.id);
      const list = tracks.get(k) ?? [];
      list.push({ observer: r.node, opinion });
      tracks.set(k, list);
    }
  }

  // Per service: counted instances, healthy ones, and the endpoints with a running episode.
  interface Svc {
    total: number;
    healthy: number;
    running: Ejection[];
  }
  const services = new Map<string, Svc>();
  for (const r of records) {
    const c = conditions.get(r.node);
    if (c === 'left') continue;
    const seen = new Set<string>();
    for (const inst of r.instances) {
      const k = key(r.node, inst.id);
      if (seen.has(k) || inst.maintenance) continue;
      seen.add(k);
      const svc = services.get(inst.service) ?? { total: 0, healthy: 0, running: [] };
      services.set(inst.service, svc);
      svc.total++;
      const healthy = inst.health !== 'critical' && (c === 'alive' || c === 'suspect');
      if (healthy) svc.healthy++;
      if (!healthy) continue;
      const t = tracks.get(k);
      const e = t && runningEpisode(inst.service, r.node, inst.id, t, input.now, o);
      const hold = inst.flaps?.length ? healthHold(inst.flaps, input.now, o) : undefined;
      if (e) svc.running.push(hold && hold.until > e.until ? { ...e, until: hold.until, damped: true } : e);
      else if (hold) {
        const { since, until, penalty } = hold;
        svc.running.push({
          service: inst.service,
          node: r.node,
          id: inst.id,
          since,
          until,
          ejections: 0,
          penalty,
          damped: true,
          observers: [],
        });
      }
    }
  }

  const ejected: Ejection[] = [];
  const held: HeldEjection[] = [];
  for (const svc of services.values()) {
    svc.running.sort((a, b) => a.since - b.since || compareStrings(a.node, b.node) || compareStrings(a.id, b.id));
    const cap = Math.max(1, Math.floor(o.maxEjectionShare * svc.total));
    let n = 0;
    for (const e of svc.running) {
      if (n + 1 > cap) held.push({ ...e, heldBy: 'max-ejection' });
      else if ((svc.healthy - n - 1) / svc.total < input.panicThreshold) held.push({ ...e, heldBy: 'panic' });
      else {
        ejected.push(e);
        n++;
      }
    }
  }
  const order = (a: Ejection, b: Ejection) =>
    compareStrings(a.service, b.service) || compareStrings(a.node, b.node) || compareStrings(a.id, b.id);
  ejected.sort(order);
  held.sort(order);
  discounted.sort((a, b) => compareStrings(a.observer, b.observer));
  let nextChangeAt: number | null = null;
  for (const e of [...ejected, ...held]) if (nextChangeAt === null || e.until < nextChangeAt) nextChangeAt = e.until;
  return { ejected, held, discounted, nextChangeAt };
}

/**
 * Health-flap damping (RFC 2439) from the instance's own flip times: half a flap penalty per flip
 * (a full one per down-and-up cycle); while the penalty at a flip is over the suppress limit the
 * instance is held out until it decays to the reuse limit. Returns the hold running at `now`.
 */
export function healthHold(
  flaps: readonly number[],
  now: number,
  o: OutlierOptions,
): { since: number; until: number; penalty: number } | undefined {
  let penalty: Penalty = NO_PENALTY;
  let running: { since: number; until: number; penalty: number } | undefined;
  const half = { ...o, flapPenalty: o.flapPenalty / 2 };
  for (const t of flaps) {
    if (t > now) break;
    penalty = addFlap(penalty, t, half);
    const until = suppressedUntil(penalty, o);
    // A new suppression replaces the hold; without one, an earlier hold still runs to its end.
    if (until !== null && now < until) running = { since: t, until, penalty: Math.round(penalty.value) };
  }
  return running;
}

/** The transition in effect at `t` (the last one at or before it), if any. */
function stateAt(transitions: readonly OpinionTransition[], t: number): OpinionTransition | undefined {
  let out: OpinionTransition | undefined;
  for (const tr of transitions) {
    if (tr.at > t) break;
    out = tr;
  }
  return out;
}

/** Replays the episodes of one endpoint (see the top); returns the one running at `now`, if any. */
export function runningEpisode(
  service: string,
  node: string,
  id: string,
  tracks: readonly Track[],
  now: number,
  o: OutlierOptions,
): Ejection | undefined {
  const starts = new Set<number>();
  for (const t of tracks)
    for (const tr of t.opinion.transitions) if (tr.state === 'failing' && tr.at <= now) starts.add(tr.at);
  const candidates = [...starts].sort((a, b) => a - b);
  let lastEnd = Number.NEGATIVE_INFINITY;
  let count = 0;
  let penalty: Penalty = NO_PENALTY;
  let running: Ejection | undefined;
  for (const t of candidates) {
    if (t < lastEnd) continue;
    const failing = tracks.filter((tr) => {
      const s = stateAt(tr.opinion.transitions, t);
      return s !== undefined && s.state === 'failing' && s.at >= lastEnd;
    });
    if (new Set(failing.map((f) => f.observer)).size < o.quorum) continue;
    const quiet = Number.isFinite(lastEnd) ? Math.floor((t - lastEnd) / o.windowMs) : 0;
    count = Math.max(0, count - quiet) + 1;
    const planned = t + Math.min(o.baseEjectionMs * count, o.maxEjectionMs);
    penalty = addFlap(penalty, t, o);
    const hold = suppressedUntil(penalty, o);
    let until = planned;
    let damped = false;
    if (hold !== null && hold > planned) {
      until = hold;
      damped = true;
    } else if (hold === null) {
      const trial = firstOkAfter(tracks, t, planned);
      if (trial !== undefined) until = trial;
    }
    lastEnd = until;
    running =
      t <= now && now < until
        ? {
            service,
            node,
            id,
            since: t,
            until,
            ejections: count,
            penalty: Math.round(penalty.value),
            damped,
            observers: failing.map((f) => describe(f, t)).sort((a, b) => compareStrings(a.node, b.node)),
          }
        : undefined;
  }
  return running;
}

function firstOkAfter(tracks: readonly Track[], after: number, until: number): number | undefined {
  let first: number | undefined;
  for (const t of tracks) {
    for (const tr of t.opinion.transitions) {
      if (tr.state === 'ok' && tr.at > after && tr.at < until && (first === undefined || tr.at < first)) first = tr.at;
    }
  }
  return first;
}

function describe(t: Track, at: number): DemotionObserver {
  const s = stateAt(t.opinion.transitions, at)!;
  const { ok, refused, timeout, http5xx, other, latencyMs } = t.opinion;
  return { node: t.observer, state: s.state, since: s.at, ok, refused, timeout, http5xx, other, latencyMs };
}
