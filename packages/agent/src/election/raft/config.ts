import type { NodeId } from './types.ts';

/** Longest voter id accepted in a configuration (an agent's node name). */
export const MAX_NODE_ID_BYTES = 256;
/** Most voters a configuration may hold (Raft groups here are 3 to 7 voters; the bound is for hostile input). */
export const MAX_VOTERS = 31;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** A config entry's payload: the full voter list (single-server changes append one such entry each). */
export function encodeConfig(voters: readonly NodeId[]): Uint8Array {
  return encoder.encode(JSON.stringify({ voters: [...voters].sort() }));
}

/** The voters of a config entry, or undefined when the payload is malformed. */
export function decodeConfig(data: Uint8Array): NodeId[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const voters = (parsed as { voters?: unknown }).voters;
  if (!Array.isArray(voters) || voters.length > MAX_VOTERS) return undefined;
  const out: NodeId[] = [];
  for (const v of voters) {
    if (!isNodeId(v) || out.includes(v)) return undefined;
    out.push(v);
  }
  return out;
}

export function isNodeId(v: unknown): v is NodeId {
  return typeof v === 'string' && v.length > 0 && utf8Length(v) <= MAX_NODE_ID_BYTES;
}

/** UTF-8 byte length without encoding (hot: every message's ids are checked). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
