import { decodeNodeMeta, type NodeTags } from '@vigil/protocol';
import type { MemberStatus } from '../base/member-status.ts';
import type { MemberView } from './swim-engine.ts';

/** A member as GET /v1/members and `vigil members --json` show it. */
export interface MemberInfo {
  readonly name: string;
  readonly addr: string;
  readonly port: number;
  readonly status: MemberStatus;
  readonly incarnation: number;
  readonly tags: NodeTags;
  /** Independent observers that suspect it; only for suspects. */
  readonly confirmations?: number;
  readonly confirmedSuspect: boolean;
}

/**
 * Tags by the metadata buffer they were decoded from. A member's buffer is replaced, never
 * mutated, when its metadata changes, and the member table is read on every membership event
 * (routing, catalog peers, the API): decoding 50 members' tags per event made joins CPU-bound.
 */
const decodedTags = new WeakMap<Uint8Array, NodeTags>();

/** A member's tags, decoded from its Serf-format metadata once per buffer. */
export function memberTags(meta: Uint8Array): NodeTags {
  let tags = decodedTags.get(meta);
  if (tags === undefined) {
    try {
      tags = decodeNodeMeta(meta);
    } catch {
      // Metadata we cannot read shows as no tags rather than hiding the member.
      tags = {};
    }
    decodedTags.set(meta, Object.freeze(tags));
  }
  return tags;
}

/** The API shape of a member. */
export function memberInfo(m: MemberView): MemberInfo {
  const tags = memberTags(m.meta);
  return {
    name: m.name,
    addr: m.addr.host,
    port: m.addr.port,
    status: m.status,
    incarnation: m.incarnation,
    tags,
    ...(m.status === 'suspect' ? { confirmations: m.confirmations } : {}),
    confirmedSuspect: m.confirmedSuspect,
  };
}
