import type { InstanceRecord, NodeRecord } from '@vigil/protocol';
import { compareStrings } from '../base/compare.ts';
import type { ServiceView } from '../services/registry.ts';

export interface LocalRecordInput {
  readonly node: string;
  readonly peerId: string;
  /** Boot time: a restarted agent's records beat its previous life's. */
  readonly epoch: number;
  readonly seq: number;
  /** Filled in for services registered without an address, as Consul uses the node's. */
  readonly nodeAddress: string;
  readonly services: readonly LocalService[];
  /** The election plane's part of the record (leads, locks, bootstraps). */
  readonly elections?: Pick<NodeRecord, 'leads' | 'locks' | 'bootstraps'> | undefined;
}

/** What the record needs of a registered service: its definition and its combined health. */
export type LocalService = Pick<ServiceView, 'service' | 'health'>;

/** This node's catalog record, built from the local registry: the only record this agent authors. */
export function localRecord(input: LocalRecordInput): NodeRecord {
  const instances: InstanceRecord[] = input.services
    .map((view) => {
      const s = view.service;
      const maintenance = view.health === 'maintenance';
      return {
        id: s.id,
        service: s.name,
        address: s.address === '' ? input.nodeAddress : s.address,
        port: s.port,
        tags: [...s.tags],
        meta: { ...s.meta },
        weight: s.weights.passing,
        priority: s.priority,
        zone: s.zone,
        policy: s.policy ?? 'active-passive',
        ...(s.election ? { voters: s.election.voters } : {}),
        health: view.health === 'maintenance' ? 'critical' : view.health,
        maintenance,
      } satisfies InstanceRecord;
    })
    .sort((a, b) => compareStrings(a.id, b.id));
  const e = input.elections;
  return {
    node: input.node,
    peerId: input.peerId,
    epoch: input.epoch,
    seq: input.seq,
    instances,
    ...(e?.leads?.length ? { leads: e.leads } : {}),
    ...(e?.locks?.length ? { locks: e.locks } : {}),
    ...(e?.bootstraps?.length ? { bootstraps: e.bootstraps } : {}),
  };
}
