// Why each demoted endpoint of a routing table is demoted: an outlier ejection (with its observers,
// what they saw and when), or its node being a confirmed suspect. Held ejections (over the share or
// under the panic threshold) are listed too, so an operator sees why a failing endpoint still
// takes traffic.

import type { Demotion } from '@vigil/protocol';
import type { RoutingTable } from '../routing/index.ts';
import type { Ejection, OutlierVerdict } from './verdict.ts';

export interface Explanation {
  readonly demotions: readonly Demotion[];
  readonly held: readonly (Demotion & { readonly heldBy: 'max-ejection' | 'panic' })[];
}

export function explainDemotions(table: RoutingTable, verdict: OutlierVerdict): Explanation {
  const ejected = verdict.ejected.filter((e) => e.service === table.service);
  const byKey = new Map(ejected.map((e) => [`${e.node}\u0000${e.id}`, e]));
  const demotions: Demotion[] = [];
  for (const ep of table.endpoints) {
    if (ep.state !== 'demoted') continue;
    const e = byKey.get(`${ep.node}\u0000${ep.id}`);
    if (e === undefined) {
      demotions.push({ node: ep.node, id: ep.id, reason: 'confirmed-suspect' });
      continue;
    }
    demotions.push(asDemotion(e));
  }
  const held = verdict.held
    .filter((e) => e.service === table.service)
    .map((e) => ({ ...asDemotion(e), heldBy: e.heldBy }));
  return { demotions, held };
}

function asDemotion(e: Ejection): Demotion {
  const { node, id, since, until, ejections, penalty, damped, observers } = e;
  return { node, id, reason: 'outlier', since, until, ejections, penalty, damped, observers };
}
