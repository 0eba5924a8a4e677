// Node metadata as Serf writes it (serf.go encodeTags/decodeTags): byte 255, then a msgpack map of
// tag name -> value. Without the 255 prefix it is Serf's older form: the whole meta is the role.

import { DecodeError, EncodeError } from './decode-error.ts';
import { stringValue } from './go-struct.ts';
import { decodeMsgpack, GoMsgpackWriter } from './msgpack-go.ts';

/** memberlist's MetaMaxSize. */
export const META_MAX_BYTES = 512;
export const TAG_MAGIC_BYTE = 255;

/** Reserved tags: the node's libp2p peer id, its libp2p multiaddr, and its zone. */
export const META_PEER_ID = 'vigil:peer';
export const META_P2P_ADDR = 'vigil:p2p';
export const META_ZONE = 'vigil:zone';

export type NodeTags = Readonly<Record<string, string>>;

export class NodeMetaTooLargeError extends EncodeError {
  readonly size: number;

  constructor(size: number) {
    super(`node metadata is ${size} bytes, memberlist allows at most ${META_MAX_BYTES}: use fewer or shorter tags`);
    this.name = 'NodeMetaTooLargeError';
    this.size = size;
  }
}

/** Encodes tags (sorted by name, so equal tags give equal bytes); throws if over 512 bytes. */
export function encodeNodeMeta(tags: NodeTags): Uint8Array {
  const keys = Object.keys(tags).sort();
  const w = new GoMsgpackWriter();
  w.byte(TAG_MAGIC_BYTE).mapHeader(keys.length);
  for (const k of keys) w.str(k).str(tags[k]!);
  if (w.length > META_MAX_BYTES) throw new NodeMetaTooLargeError(w.length);
  return w.finish();
}

/** Decodes Serf tags. Throws DecodeError when the map is malformed (Serf logs and keeps what it read). */
export function decodeNodeMeta(buf: Uint8Array): NodeTags {
  if (buf.length === 0 || buf[0] !== TAG_MAGIC_BYTE) {
    return { role: stringValue(buf, 'role') };
  }
  const { value } = decodeMsgpack(buf, 1);
  if (value === null) return {};
  if (!(value instanceof Map)) throw new DecodeError('malformed', 'node meta: expected a map of tags');
  // fromEntries defines own properties, so a tag named "__proto__" stays a plain tag.
  return Object.fromEntries([...value].map(([k, v]) => [k, stringValue(v, `tag ${k}`)]));
}
