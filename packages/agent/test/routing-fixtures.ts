// Builders for the routing tests: instance and node records, membership views, and a shorthand
// for computeRouting.

import type { InstanceRecord, NodeRecord } from '@vigil/protocol';
import type { MemberInput, RoutingInput, RoutingResult, RoutingTable } from '../src/routing/index.ts';
import { computeRouting } from '../src/routing/index.ts';

export function inst(id: string, overrides: Partial<InstanceRecord> = {}): InstanceRecord {
  return {
    id,
    service: 'web',
    address: `10.0.0.${id.length}`,
    port: 8080,
    tags: [],
    meta: {},
    weight: 1,
    priority: 0,
    zone: 'a',
    policy: 'active-passive',
    health: 'passing',
    maintenance: false,
    ...overrides,
  };
}

export function rec(
  node: string,
  instances: InstanceRecord[],
  version: { epoch?: number; seq?: number } = {},
): NodeRecord {
  return { node, peerId: `peer-${node}`, epoch: version.epoch ?? 1, seq: version.seq ?? 1, instances };
}

/** One node per instance, named after the instance id: the common shape of these tests. */
export function oneEach(...instances: InstanceRecord[]): NodeRecord[] {
  return instances.map((i) => rec(i.id, [i]));
}

export function member(name: string, status: MemberInput['status'] = 'alive', confirmedSuspect = false): MemberInput {
  return { name, status, confirmedSuspect };
}

/** Every node of `records` alive, except those listed in `overrides`. */
export function members(records: readonly NodeRecord[], overrides: Record<string, MemberInput> = {}): MemberInput[] {
  return records.map((r) => overrides[r.node] ?? member(r.node));
}

export function route(
  records: NodeRecord[],
  rest: Partial<Omit<RoutingInput, 'records'>> & { overrides?: Record<string, MemberInput> } = {},
): RoutingResult {
  const { overrides, ...input } = rest;
  return computeRouting({
    records,
    members: input.members ?? members(records, overrides),
    localZone: input.localZone ?? 'a',
    now: input.now ?? 0,
    options: input.options,
  });
}

export function table(result: RoutingResult, service = 'web'): RoutingTable {
  const t = result.tables.find((x) => x.service === service);
  if (!t) throw new Error(`no table for ${service}`);
  return t;
}

/** id → share, for the endpoints that carry traffic. */
export function shares(t: RoutingTable): Record<string, number> {
  return Object.fromEntries(t.endpoints.filter((e) => e.share > 0).map((e) => [e.id, e.share]));
}

export function states(t: RoutingTable): Record<string, string> {
  return Object.fromEntries(t.endpoints.map((e) => [e.id, e.state]));
}

export function tierLoads(t: RoutingTable): number[] {
  return t.tiers.map((x) => x.load);
}
