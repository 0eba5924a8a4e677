// Cluster label header (label.go): [244][length: uint8, 1..255][label bytes], in front of every
// packet and at the start of every stream the dialer opens. The label is also the AES-GCM
// additional data, so a packet from another cluster fails even if the header is stripped.

import { DecodeError, EncodeError } from './decode-error.ts';
import { HAS_LABEL } from './messages.ts';
import { bytesToString, stringToBytes } from './msgpack-go.ts';

export const LABEL_MAX_BYTES = 255;

/** Bytes the label header adds (memberlist's labelOverhead). */
export function labelOverhead(label: string): number {
  return label === '' ? 0 : 2 + stringToBytes(label).length;
}

/** Prefixes the header; an empty label means no header at all. */
export function addLabelHeader(buf: Uint8Array, label: string): Uint8Array {
  if (label === '') return buf;
  const bytes = stringToBytes(label);
  if (bytes.length > LABEL_MAX_BYTES) throw new EncodeError(`label is ${bytes.length} bytes; at most 255`);
  const out = new Uint8Array(2 + bytes.length + buf.length);
  out[0] = HAS_LABEL;
  out[1] = bytes.length;
  out.set(bytes, 2);
  out.set(buf, 2 + bytes.length);
  return out;
}

/**
 * Splits off a label header if there is one. A header that is empty or runs past the end is an
 * error: `truncated` when the bytes may still come (streams), `malformed` for an empty label.
 */
export function removeLabelHeader(buf: Uint8Array): { label: string; rest: Uint8Array; labelBytes: Uint8Array } {
  if (buf[0] !== HAS_LABEL) return { label: '', rest: buf, labelBytes: new Uint8Array(0) };
  const size = buf[1];
  if (size === undefined) throw new DecodeError('truncated', 'label header is truncated');
  if (size === 0) throw new DecodeError('malformed', 'label header cannot be empty when present');
  if (buf.length < 2 + size) throw new DecodeError('truncated', 'label header is truncated');
  const labelBytes = buf.subarray(2, 2 + size);
  return { label: bytesToString(labelBytes), rest: buf.subarray(2 + size), labelBytes };
}
