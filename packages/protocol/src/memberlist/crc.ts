// hasCrcMsg (type 12): [12][crc32 IEEE of the rest: uint32 BE][rest]. memberlist adds it when the
// receiver speaks protocol >= 5 and checks it on every packet that starts with the type.

import * as zlib from 'node:zlib';
import { MessageType } from './messages.ts';

export const CRC_HEADER_BYTES = 5;

// zlib.crc32 arrived in Node 22.2; keep a table fallback so 22.0/22.1 still work.
const nativeCrc32: ((data: Uint8Array) => number) | undefined = (zlib as { crc32?: (data: Uint8Array) => number })
  .crc32;

let table: Uint32Array | undefined;

function tableCrc32(data: Uint8Array): number {
  if (table === undefined) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of data) crc = table[(crc ^ b) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export function crc32(data: Uint8Array): number {
  return nativeCrc32 !== undefined ? nativeCrc32(data) >>> 0 : tableCrc32(data);
}

export function addCrcHeader(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(CRC_HEADER_BYTES + payload.length);
  out[0] = MessageType.hasCrc;
  new DataView(out.buffer).setUint32(1, crc32(payload));
  out.set(payload, CRC_HEADER_BYTES);
  return out;
}

/** For a buffer that starts with the CRC type: the verified rest, or undefined on mismatch. */
export function checkCrcHeader(buf: Uint8Array): Uint8Array | undefined {
  const rest = buf.subarray(CRC_HEADER_BYTES);
  const expected = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(1);
  return crc32(rest) === expected ? rest : undefined;
}
