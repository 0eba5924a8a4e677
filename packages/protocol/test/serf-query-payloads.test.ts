// Serf's query payloads: filters and the key requests/responses behind `serf keys`. Real Serf
// reading ours and us reading Serf's is tested in test/integration/serf-interop.test.ts.

import { describe, expect, it } from 'vitest';
import {
  decodeKeyRequest,
  decodeKeyResponse,
  decodeQueryFilter,
  encodeKeyRequest,
  encodeKeyResponse,
  encodeQueryFilter,
} from '../src/index.ts';

const key = (fill: number) => new Uint8Array(32).fill(fill);
const b64 = (k: Uint8Array) => Buffer.from(k).toString('base64');

describe('Serf query payloads', () => {
  it('round-trip, and a Serf 0.9 key response (no PrimaryKey) reads as one', () => {
    const k = key(3);
    expect(decodeKeyRequest(encodeKeyRequest(k))).toEqual(k);
    const r = { result: true, message: '', keys: [b64(k)], primaryKey: b64(k) };
    expect(decodeKeyResponse(encodeKeyResponse(r))).toEqual(r);
    const filters = [
      { type: 'nodes', nodes: ['a', 'b'] },
      { type: 'tag', tag: 'role', expr: '^web' },
    ] as const;
    for (const f of filters) expect(decodeQueryFilter(encodeQueryFilter(f))).toEqual(f);
    // Serf 0.9's nodeKeyResponse: {Keys, Message, Result} only.
    const serf09 = Uint8Array.from([
      8,
      0x83,
      0xa4,
      ...Buffer.from('Keys'),
      0xc0,
      0xa7,
      ...Buffer.from('Message'),
      0xa3,
      ...Buffer.from('bad'),
      0xa6,
      ...Buffer.from('Result'),
      0xc2,
    ]);
    expect(decodeKeyResponse(serf09)).toEqual({ result: false, message: 'bad', keys: [] });
    expect(() => decodeKeyRequest(Uint8Array.from([8, 0x80]))).toThrow(/not a key request/);
    expect(() => decodeQueryFilter(Uint8Array.from([7, 0x90]))).toThrow(/unknown query filter type 7/);
  });
});
