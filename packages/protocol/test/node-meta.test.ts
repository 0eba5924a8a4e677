import { describe, expect, it } from 'vitest';
import {
  DecodeError,
  decodeNodeMeta,
  encodeNodeMeta,
  META_P2P_ADDR,
  META_PEER_ID,
  META_ZONE,
  NodeMetaTooLargeError,
} from '../src/index.ts';
import { ascii, hex, unhex } from './helpers.ts';

describe('node metadata as Serf tags', () => {
  it('golden: byte 255, then a msgpack map of string to string (raw strings)', () => {
    // ff tagMagicByte | 81 fixmap 1 | a4 "role" | a3 "web": what serf -tag role=web advertised
    expect(hex(encodeNodeMeta({ role: 'web' }))).toBe('ff81a4726f6c65a3776562');
    expect(decodeNodeMeta(unhex('ff81a4726f6c65a3776562'))).toEqual({ role: 'web' });
    expect(hex(encodeNodeMeta({}))).toBe('ff80');
  });

  it('sorts tags so equal tags give equal bytes', () => {
    expect(encodeNodeMeta({ b: '2', a: '1' })).toEqual(encodeNodeMeta({ a: '1', b: '2' }));
  });

  it('round-trips the reserved Vigil tags next to user tags', () => {
    const tags = {
      [META_PEER_ID]: '12D3KooWGzBvUsVLuyxYqCtuvWtvjsy9TkXbd1r4ncwxmqgmfi5H',
      [META_P2P_ADDR]: '/ip4/10.0.0.1/tcp/7947',
      [META_ZONE]: 'eu-west-1a',
      role: 'api',
      __proto__: 'not a prototype',
    };
    expect(decodeNodeMeta(encodeNodeMeta(tags))).toEqual(tags);
    expect(META_PEER_ID).toBe('vigil:peer');
    expect(META_P2P_ADDR).toBe('vigil:p2p');
    expect(META_ZONE).toBe('vigil:zone');
  });

  it('refuses more than 512 bytes with a typed error', () => {
    expect(encodeNodeMeta({ k: 'x'.repeat(505) }).length).toBe(512);
    expect(() => encodeNodeMeta({ k: 'x'.repeat(506) })).toThrow(NodeMetaTooLargeError);
  });

  it("reads Serf's older role-only form (no 255 prefix), including empty meta", () => {
    expect(decodeNodeMeta(ascii('db'))).toEqual({ role: 'db' });
    expect(decodeNodeMeta(new Uint8Array())).toEqual({ role: '' });
  });

  it('malformed tag maps raise DecodeError', () => {
    expect(() => decodeNodeMeta(unhex('ff 81 a1 61 01'))).toThrow(DecodeError);
    expect(() => decodeNodeMeta(unhex('ff 91 01'))).toThrow(DecodeError);
    expect(() => decodeNodeMeta(unhex('ff 82 a1 61'))).toThrow(DecodeError);
  });
});
