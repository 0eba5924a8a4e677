// compoundMsg (type 7): several messages in one packet.
//   [7][count: uint8][length: uint16 BE × count][message bytes × count]
// memberlist's makeCompoundMessage / decodeCompoundMessage (util.go).

import { DecodeError, EncodeError } from './decode-error.ts';
import { MessageType } from './messages.ts';

export const MAX_COMPOUND_PARTS = 255;
/** Bytes a compound adds before its parts (type + count), memberlist's compoundHeaderOverhead. */
export const COMPOUND_HEADER_OVERHEAD = 2;
/** Bytes a compound adds per part (its uint16 length), memberlist's compoundOverhead. */
export const COMPOUND_PART_OVERHEAD = 2;

export function encodeCompound(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length > MAX_COMPOUND_PARTS)
    throw new EncodeError(`a compound holds at most 255 parts, got ${parts.length}`);
  let size = COMPOUND_HEADER_OVERHEAD + COMPOUND_PART_OVERHEAD * parts.length;
  for (const p of parts) {
    if (p.length > 0xffff) throw new EncodeError(`a compound part is at most 65535 bytes, got ${p.length}`);
    size += p.length;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = MessageType.compound;
  out[1] = parts.length;
  let at = 2;
  for (const p of parts) {
    view.setUint16(at, p.length);
    at += 2;
  }
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Splits a compound body (the bytes after the type byte). Like memberlist, parts that run past the
 * end are reported as `truncated` rather than failing the parts before them.
 */
export function decodeCompound(body: Uint8Array): { parts: Uint8Array[]; truncated: number } {
  const count = body[0];
  if (count === undefined) throw new DecodeError('truncated', 'compound: missing part count');
  if (body.length < 1 + 2 * count) throw new DecodeError('truncated', 'compound: truncated length table');
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const parts: Uint8Array[] = [];
  let at = 1 + 2 * count;
  for (let i = 0; i < count; i++) {
    const len = view.getUint16(1 + 2 * i);
    if (at + len > body.length) return { parts, truncated: count - i };
    parts.push(body.subarray(at, at + len));
    at += len;
  }
  return { parts, truncated: 0 };
}
