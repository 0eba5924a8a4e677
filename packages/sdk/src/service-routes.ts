import type { RouteEndpoint, RouteTable } from '@vigil/protocol';
import { type BreakerOptions, EndpointBreaker } from './breaker.ts';
import { BREAKER_LIMITS } from './defaults.ts';

/** How far this process's breakers may hold a service's endpoints out (see BREAKER_LIMITS). */
export interface BreakerLimits {
  /** At most this share of the endpoints held out at once (always at least one). */
  readonly maxEjectionShare: number;
  /** Below this share of endpoints left, breakers are ignored (panic). */
  readonly panicThreshold: number;
}

/** One endpoint of the routing table, as the SDK hands it to applications. */
export interface Endpoint extends RouteEndpoint {
  readonly service: string;
  /** `node/id`: the instance's identity, stable across table updates. */
  readonly key: string;
  /** `http://address:port` (IPv6 in brackets), ready for a URL or an undici origin. */
  readonly origin: string;
}

/** A set of endpoint indices, with cumulative shares for a weighted pick. */
interface PickSet {
  readonly idx: Int32Array;
  /** Cumulative shares (weighted sets), or uniform when the shares sum to 0. */
  readonly cum: Float64Array;
  readonly total: number;
}

/** The sets in the order a pick tries them. Active sets are weighted by share, the others by tier. */
interface PickPlan {
  readonly active: readonly PickSet[];
  readonly standby: readonly PickSet[];
  readonly demoted: readonly PickSet[];
}

const EMPTY_SET: PickSet = { idx: new Int32Array(0), cum: new Float64Array(0), total: 0 };

export type Random = () => number;

/**
 * One service's routing table and the structures a pick needs, precomputed whenever the table
 * changes, so that a pick is a few array reads: the active endpoints with cumulative shares, the
 * standby and demoted ones in table order, the same split per zone, and one breaker per endpoint
 * (kept across table updates by endpoint key).
 */
export class ServiceRoutes {
  readonly service: string;
  table!: RouteTable;
  endpoints: Endpoint[] = [];
  breakers: EndpointBreaker[] = [];
  /** Breakers that are not closed; 0 means the fast path may ignore breakers entirely. */
  tripped = 0;
  private shares = new Float64Array(0);
  private plan: PickPlan = { active: [], standby: [], demoted: [] };
  private zonePlans = new Map<string, PickPlan>();
  private readonly breakerOptions: BreakerOptions;
  private readonly now: () => number;
  private byKey = new Map<string, EndpointBreaker>();
  private readonly limits: BreakerLimits;

  constructor(
    table: RouteTable,
    breakerOptions: BreakerOptions,
    now: () => number,
    limits: BreakerLimits = BREAKER_LIMITS,
  ) {
    this.service = table.service;
    this.breakerOptions = breakerOptions;
    this.limits = limits;
    this.now = now;
    this.update(table);
  }

  /** Replaces the table; breakers of endpoints that remain are kept. */
  update(table: RouteTable): void {
    this.table = table;
    const endpoints: Endpoint[] = [];
    const breakers: EndpointBreaker[] = [];
    const byKey = new Map<string, EndpointBreaker>();
    for (const ep of table.endpoints) {
      const key = `${ep.node}/${ep.id}`;
      const host = ep.address.includes(':') ? `[${ep.address}]` : ep.address;
      endpoints.push({ ...ep, service: table.service, key, origin: `http://${host}:${ep.port}` });
      let breaker = this.byKey.get(key) ?? byKey.get(key);
      if (!breaker) {
        breaker = new EndpointBreaker(this.breakerOptions, this.now());
        breaker.onTransition = (from, to) => {
          if (from === 'closed') this.tripped++;
          else if (to === 'closed') this.tripped--;
        };
      }
      byKey.set(key, breaker);
      breakers.push(breaker);
    }
    this.endpoints = endpoints;
    this.breakers = breakers;
    this.byKey = byKey;
    let tripped = 0;
    for (const b of byKey.values()) if (b.tripped) tripped++;
    this.tripped = tripped;
    this.shares = Float64Array.from(endpoints, (e) => (e.state === 'active' && e.share > 0 ? e.share : 0));
    this.plan = this.buildPlan(undefined);
    this.zonePlans = new Map();
    for (const zone of new Set(endpoints.map((e) => e.zone))) this.zonePlans.set(zone, this.buildPlan(zone));
  }

  breakerOf(key: string): EndpointBreaker | undefined {
    return this.byKey.get(key);
  }

  /**
   * Picks an endpoint index: weighted by share among active endpoints whose breaker admits calls,
   * else the best tier among standby ones, else among demoted ones; with a zone, that zone's
   * endpoints first within each state. `tried` endpoints are skipped (retries go elsewhere).
   * Returns -1 when nothing is usable.
   */
  pick(random: Random, zone: string | undefined, tried: readonly Endpoint[] | undefined): number {
    const plan = (zone === undefined ? undefined : this.zonePlans.get(zone)) ?? this.plan;
    if (this.tripped === 0 && tried === undefined) {
      // Fast path: every breaker is closed, so the precomputed sets are the answer.
      for (const set of plan.active) if (set.idx.length > 0) return weighted(set, random());
      for (const set of plan.standby) if (set.idx.length > 0) return this.bestTier(set, random, 0, undefined);
      for (const set of plan.demoted) if (set.idx.length > 0) return this.bestTier(set, random, 0, undefined);
      return -1;
    }
    const now = this.now();
    for (const set of plan.active) {
      const i = this.weightedUsable(set, random, now, tried);
      if (i >= 0) return i;
    }
    for (const set of plan.standby) {
      const i = this.bestTier(set, random, now, tried);
      if (i >= 0) return i;
    }
    for (const set of plan.demoted) {
      const i = this.bestTier(set, random, now, tried);
      if (i >= 0) return i;
    }
    return -1;
  }

  private usable(i: number, now: number, tried: readonly Endpoint[] | undefined): boolean {
    if (this.tripped > 0 && !this.breakers[i]!.usable(now) && this.honoured(i)) return false;
    return tried === undefined || !tried.includes(this.endpoints[i]!);
  }

  /**
   * Whether endpoint i's tripped breaker may hold it out: only the earliest-tripped breakers up to
   * the max-ejection share do, and none when the endpoints left would fall below the panic
   * threshold (Envoy's panic mode: spread over all rather than fail every call).
   */
  honoured(i: number): boolean {
    const n = this.breakers.length;
    const cap = Math.max(1, Math.floor(this.limits.maxEjectionShare * n));
    if ((n - Math.min(this.tripped, cap)) / n < this.limits.panicThreshold) return false;
    if (this.tripped <= cap) return true;
    const mine = this.breakers[i]!.tripOrder;
    let earlier = 0;
    for (const b of this.breakers) if (b.tripped && b.tripOrder < mine) earlier++;
    return earlier < cap;
  }

  private weightedUsable(set: PickSet, random: Random, now: number, tried: readonly Endpoint[] | undefined): number {
    const { idx } = set;
    let sum = 0;
    let count = 0;
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k]!;
      if (this.usable(i, now, tried)) {
        sum += this.shares[i]!;
        count++;
      }
    }
    if (count === 0) return -1;
    if (sum > 0) {
      let x = random() * sum;
      let last = -1;
      for (let k = 0; k < idx.length; k++) {
        const i = idx[k]!;
        const share = this.shares[i]!;
        if (share > 0 && this.usable(i, now, tried)) {
          if (x < share) return i;
          x -= share;
          last = i;
        }
      }
      return last;
    }
    return this.nthUsable(idx, Math.floor(random() * count), now, tried, -1);
  }

  /** Uniform among the usable endpoints of the best (lowest) tier in an ordered set. */
  private bestTier(set: PickSet, random: Random, now: number, tried: readonly Endpoint[] | undefined): number {
    const { idx } = set;
    let tier = -1;
    let count = 0;
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k]!;
      if (!this.usable(i, now, tried)) continue;
      const t = this.endpoints[i]!.tier;
      if (tier === -1 || t < tier) {
        tier = t;
        count = 1;
      } else if (t === tier) count++;
    }
    if (count === 0) return -1;
    return this.nthUsable(idx, Math.floor(random() * count), now, tried, tier);
  }

  private nthUsable(idx: Int32Array, n: number, now: number, tried: readonly Endpoint[] | undefined, tier: number) {
    let last = -1;
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k]!;
      if (!this.usable(i, now, tried) || (tier !== -1 && this.endpoints[i]!.tier !== tier)) continue;
      if (n-- === 0) return i;
      last = i;
    }
    return last;
  }

  private buildPlan(zone: string | undefined): PickPlan {
    const set = (state: RouteEndpoint['state'], inZone: boolean): PickSet => {
      const idx: number[] = [];
      this.endpoints.forEach((e, i) => {
        if (e.state === state && (!inZone || e.zone === zone)) idx.push(i);
      });
      if (idx.length === 0) return EMPTY_SET;
      const cum = new Float64Array(idx.length);
      let total = 0;
      idx.forEach((i, k) => {
        total += this.shares[i]!;
        cum[k] = total;
      });
      return { idx: Int32Array.from(idx), cum, total };
    };
    const split = (state: RouteEndpoint['state']): PickSet[] => {
      const all = set(state, false);
      if (zone === undefined) return [all];
      const local = set(state, true);
      return local.idx.length === 0 || local.idx.length === all.idx.length ? [all] : [local, all];
    };
    return { active: split('active'), standby: split('standby'), demoted: split('demoted') };
  }
}

/** Weighted pick by cumulative share, or uniform when the shares sum to 0. */
function weighted(set: PickSet, r: number): number {
  const { idx, cum, total } = set;
  const n = idx.length;
  if (n === 1) return idx[0]!;
  if (total <= 0) return idx[Math.floor(r * n)]!;
  const x = r * total;
  for (let k = 0; k < n - 1; k++) if (x < cum[k]!) return idx[k]!;
  return idx[n - 1]!;
}
