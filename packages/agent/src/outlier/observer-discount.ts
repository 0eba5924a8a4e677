// Lifeguard's idea applied to observers: a host whose own outgoing calls fail against many
// endpoints on many hosts is more likely broken itself (its network, its DNS, its CPU) than all of
// them at once, so its opinions do not count toward an ejection. Pure: the same records give the
// same set of discounted observers on every agent.

import type { EndpointOpinion } from '@vigil/protocol';
import type { OutlierOptions } from './defaults.ts';

export interface ObserverHealth {
  readonly observer: string;
  /** Distinct endpoint hosts it currently sees failing / sees at all (failing or ok). */
  readonly failingHosts: number;
  readonly observedHosts: number;
  readonly discounted: boolean;
}

export function currentState(o: EndpointOpinion): EndpointOpinion['transitions'][number] {
  return o.transitions[o.transitions.length - 1]!;
}

export function observerHealth(
  observer: string,
  opinions: readonly EndpointOpinion[],
  options: Pick<OutlierOptions, 'degradedMinHosts' | 'degradedShare'>,
): ObserverHealth {
  const failing = new Set<string>();
  const observed = new Set<string>();
  for (const o of opinions) {
    const { state } = currentState(o);
    if (state === 'idle' || o.node === observer) continue;
    observed.add(o.node);
    if (state === 'failing') failing.add(o.node);
  }
  const discounted = failing.size >= options.degradedMinHosts && failing.size >= options.degradedShare * observed.size;
  return { observer, failingHosts: failing.size, observedHosts: observed.size, discounted };
}
