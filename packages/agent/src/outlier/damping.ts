// Route-flap damping (RFC 2439) for ejections: each ejection adds a penalty that decays
// exponentially with a half-life; above the suppress limit the endpoint is held out until the
// penalty decays below the reuse limit. Pure, on explicit timestamps.

export interface DampingOptions {
  readonly flapPenalty: number;
  readonly flapHalfLifeMs: number;
  readonly flapSuppress: number;
  readonly flapReuse: number;
  readonly flapMaxHoldMs: number;
}

export interface Penalty {
  readonly value: number;
  readonly at: number;
}

export const NO_PENALTY: Penalty = { value: 0, at: 0 };

/** The penalty at `now`, decayed from its last update. */
export function decayed(p: Penalty, now: number, halfLifeMs: number): number {
  if (p.value === 0 || now <= p.at) return p.value;
  return p.value * 2 ** (-(now - p.at) / halfLifeMs);
}

/** One more flap at `at`. */
export function addFlap(p: Penalty, at: number, o: DampingOptions): Penalty {
  return { value: decayed(p, at, o.flapHalfLifeMs) + o.flapPenalty, at };
}

/** Held out until (ms), when the penalty is over the suppress limit at its update; else null. */
export function suppressedUntil(p: Penalty, o: DampingOptions): number | null {
  if (p.value < o.flapSuppress) return null;
  const hold = o.flapHalfLifeMs * Math.log2(p.value / o.flapReuse);
  return p.at + Math.min(Math.ceil(hold), o.flapMaxHoldMs);
}
