import { encodeConflictResponse, type NodeTags, SerfMemberStatus } from '@vigil/protocol';
import type { MemberStatus } from '../base/member-status.ts';
import { ipToBytes } from './address.ts';
import type { MemberView } from './swim-engine.ts';
import { DEFAULT_VSN } from './swim-engine.ts';

/** Serf shows a suspect as alive; memberlist's dead is Serf's failed. */
const STATUS: Record<MemberStatus, number> = {
  alive: SerfMemberStatus.alive,
  suspect: SerfMemberStatus.alive,
  dead: SerfMemberStatus.failed,
  left: SerfMemberStatus.left,
};

/**
 * Our vote in Serf's name-conflict resolution (`_serf_conflict`, payload: a node name): two agents
 * claim one name, and the one at the address most members know keeps it. We answer with where we
 * believe the node is, nothing when the question is about us (as Serf), nil when we do not know it.
 */
export function conflictAnswer(
  payload: Uint8Array,
  self: string,
  lookup: (name: string) => MemberView | undefined,
  tags: (meta: Uint8Array) => NodeTags,
): Uint8Array | undefined {
  const node = Buffer.from(payload).toString('utf8');
  if (node === self) return undefined;
  const m = lookup(node);
  if (!m) return encodeConflictResponse(undefined);
  // The view does not carry the member's protocol versions; the vote compares only the address and
  // port, so we report the versions we speak.
  const [pMin = 1, pMax = 5, pCur = 2, dMin = 2, dMax = 5, dCur = 4] = DEFAULT_VSN;
  return encodeConflictResponse({
    name: m.name,
    addr: ipToBytes(m.addr.host),
    port: m.addr.port,
    tags: tags(m.meta),
    status: STATUS[m.status],
    protocol: [pMin, pMax, pCur],
    delegate: [dMin, dMax, dCur],
  });
}
