// Every outlier-detection default, named once, with the reason for its value.

export interface OutlierOptions {
  /** Distinct observer hosts (other than the endpoint's own) that must see it failing at once. */
  readonly quorum: number;
  /** An observer's view: failures within this window (ms) make it failing; no calls for it, idle. */
  readonly windowMs: number;
  /** ... at least this many failures ... */
  readonly minFailures: number;
  /** ... making at least this share of its calls. */
  readonly failureRate: number;
  /** Ejection time = base × ejection count, capped (Envoy's base_ejection_time, max_ejection_time). */
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  /** At most this share of a service's instances ejected at once; always at least one (Envoy). */
  readonly maxEjectionShare: number;
  /** An observer failing against at least this many hosts ... */
  readonly degradedMinHosts: number;
  /** ... making at least this share of the hosts it calls, is discounted (Lifeguard). */
  readonly degradedShare: number;
  /** RFC 2439 flap damping: penalty per ejection, half-life, suppress and reuse limits, longest hold. */
  readonly flapPenalty: number;
  readonly flapHalfLifeMs: number;
  readonly flapSuppress: number;
  readonly flapReuse: number;
  readonly flapMaxHoldMs: number;
}

export const OUTLIER_DEFAULTS: OutlierOptions = {
  // Two, as membership's confirmed suspect: one sick client or host can never eject for everyone.
  quorum: 2,
  // Envoy's outlier interval and the SDK breaker's window are 10 s.
  windowMs: 10_000,
  // One failure, if it is at least half of this host's calls in the window: the quorum of two
  // hosts is the guard against a stray error, not a per-host count. A per-host count of k costs
  // (k - 1) more failures per observer before anyone learns (~200 ms each at 5 failed calls/s, the
  // benchmark's rate), while with steady traffic the rate test keeps one error among many
  // successes from counting.
  minFailures: 1,
  failureRate: 0.5,
  // Envoy's 30 s base and 300 s cap. The base must exceed the window: while an endpoint is ejected
  // its observers stop calling it and fall idle, so failures after the return are a fresh episode.
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  // Envoy's max_ejection_percent is 10% with at least one host; a mesh-wide ejection moves every
  // client at once, so we keep Envoy's cautious share.
  maxEjectionShare: 0.1,
  // Lifeguard discounts a prober that itself misses acks; an observer failing against three or more
  // hosts, and against most of what it calls, is more likely broken itself.
  degradedMinHosts: 3,
  degradedShare: 0.5,
  // RFC 2439's suggested figures scaled to service ejections: 1000 per flap, half-life 15 min
  // (RFC: 15), suppress above 2000 (a third ejection soon after two), reuse below 750, 60 min cap.
  flapPenalty: 1000,
  flapHalfLifeMs: 15 * 60_000,
  flapSuppress: 2000,
  flapReuse: 750,
  flapMaxHoldMs: 60 * 60_000,
};

export function resolveOutlierOptions(o: Partial<OutlierOptions> | undefined): OutlierOptions {
  const r: OutlierOptions = {
    ...OUTLIER_DEFAULTS,
    ...Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)),
  };
  if (!(Number.isInteger(r.quorum) && r.quorum >= 2)) throw new RangeError('outlier quorum must be an integer >= 2');
  if (!(r.baseEjectionMs > r.windowMs)) throw new RangeError('outlier baseEjectionMs must exceed windowMs');
  if (!(r.maxEjectionShare >= 0 && r.maxEjectionShare <= 1)) throw new RangeError('maxEjectionShare must be in [0, 1]');
  return r;
}
