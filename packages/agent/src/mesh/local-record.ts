import { type InstanceRecord, MAX_RECORD_BYTES, type NodeRecord } from '@vigil/protocol';
import { compareStrings } from '../base/compare.ts';
import { RecordError, validateRecord } from '../catalog/record-codec.ts';
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

/** What the record needs of a registered service: its definition, combined health, last recovery. */
export type LocalService = Pick<ServiceView, 'service' | 'health'> & { readonly recoveredAt?: number | undefined };

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
        ...(view.recoveredAt === undefined ? {} : { recoveredAt: view.recoveredAt }),
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

/** The longest address an instance without one can be given (an IPv6 literal). */
const LONGEST_ADDRESS = 'f'.repeat(45);

/**
 * Why the record these services make could not be published (its size past MAX_RECORD_BYTES, or
 * a bound of the record schema), or undefined when it can. Measured on the largest record they
 * could make: the largest version numbers, every instance critical, the longest node address.
 * Registrations are checked with this before they are stored, so the node never holds a service
 * set whose record every receiver would refuse, and its later changes (a drain) still go out.
 */
export function recordOverflow(node: string, peerId: string, services: readonly LocalService[]): string | undefined {
  const record = localRecord({
    node,
    peerId,
    epoch: Number.MAX_SAFE_INTEGER,
    seq: Number.MAX_SAFE_INTEGER,
    nodeAddress: LONGEST_ADDRESS,
    services: services.map((s) => ({ service: s.service, health: 'critical' })),
  });
  try {
    validateRecord(record);
  } catch (err) {
    if (err instanceof RecordError) return `node ${node}'s catalog record would be refused: ${err.message}`;
    throw err;
  }
  const bytes = Buffer.byteLength(JSON.stringify(record));
  if (bytes <= MAX_RECORD_BYTES) return undefined;
  return `node ${node}'s catalog record would be ${bytes} bytes with this, over the limit of ${MAX_RECORD_BYTES} bytes (256 KiB) per node; deregister services or shorten their tags and meta`;
}
