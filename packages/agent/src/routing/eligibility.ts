// Eligibility: how membership sees a node, and what that and the instance's own state make of an
// instance. The rules are explained at the top of compute.ts.

import type { InstanceRecord } from '@vigil/protocol';
import type { MemberInput } from './types.ts';

/** How membership sees a node, most severe last. */
export type NodeCondition = 'alive' | 'suspect' | 'confirmed-suspect' | 'dead' | 'left';

const CONDITION_SEVERITY: Record<NodeCondition, number> = {
  alive: 0,
  suspect: 1,
  'confirmed-suspect': 2,
  dead: 3,
  left: 4,
};

/** Node name → condition; a name listed twice keeps its most severe condition. */
export function nodeConditions(members: readonly MemberInput[]): Map<string, NodeCondition> {
  const out = new Map<string, NodeCondition>();
  for (const m of members) {
    const c: NodeCondition = m.status === 'suspect' && m.confirmedSuspect ? 'confirmed-suspect' : m.status;
    const held = out.get(m.name);
    if (held === undefined || CONDITION_SEVERITY[c] > CONDITION_SEVERITY[held]) out.set(m.name, c);
  }
  return out;
}

export type InstanceClass = 'healthy' | 'demoted' | 'critical' | 'lost' | 'drained';

/** The eligibility rules above; undefined when the instance is not part of its service at all. */
export function classify(instance: InstanceRecord, node: NodeCondition | undefined): InstanceClass | undefined {
  if (node === undefined || node === 'left') return undefined;
  if (instance.maintenance) return 'drained';
  if (node === 'dead') return 'lost';
  if (instance.health === 'critical') return 'critical';
  if (node === 'confirmed-suspect') return 'demoted';
  return 'healthy';
}
