import { describe, expect, it } from 'vitest';
import { DecodeError, MessageType } from '../src/index.ts';
import { lzwCompress, lzwDecompress } from '../src/memberlist/lzw.ts';
import { decodeCompressBody } from '../src/memberlist/message-codec.ts';
import { ascii, captured, hex, loadCapture, unhex } from './helpers.ts';

describe('LZW as Go compress/lzw (LSB, litWidth 8)', () => {
  it('hand-run vector: "aaa"', () => {
    // Go's writer: clear code first, then codes 9 bits wide, packed LSB-first:
    //   256 (clear), 97 ('a'; defines 258 = "aa"), 258 ("aa", found in the table), 257 (eof)
    //   bits: 1_0000_0000 | 0_0110_0001 | 1_0000_0010 | 1_0000_0001 (each written low bit first)
    //   byte 0 = 0x00 (low 8 bits of 256); byte 1 = 1 (rest of 256) | 97<<1 = 0xc3;
    //   byte 2 = low 8 of 258<<2 = 0x08; byte 3 = (258>>6) | (257<<3 & 0xff) = 0x04|0x08 = 0x0c;
    //   byte 4 = 257>>5 = 0x08 (final partial byte)
    expect(hex(lzwCompress(ascii('aaa')))).toBe('00c3080c08');
    expect(lzwDecompress(unhex('00c3080c08'), 100)).toEqual(ascii('aaa'));
  });

  it('empty input is a clear code and an end code', () => {
    // 256 then 257, 9 bits each: 0x00, 0x03 (1 | 257<<1 & 0xff = 1|2), 0x02 (257>>7)
    expect(hex(lzwCompress(new Uint8Array(0)))).toBe('000302');
    expect(lzwDecompress(unhex('000302'), 10)).toEqual(new Uint8Array(0));
  });

  it('accepts streams from older Go writers that did not start with a clear code', () => {
    // 97, 258, 257 at 9 bits, what Go before 1.17 wrote for "aaa":
    //   0x61 (97) | 0x04 (258<<1) | 0x06 (258>>7 | 257<<2) | 0x04 (257>>6)
    expect(lzwDecompress(unhex('61 04 06 04'), 100)).toEqual(ascii('aaa'));
  });

  it('round-trips inputs that grow the code width to 12 bits and reset the table', () => {
    const rnd = (seed: number) => () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed >>> 24;
    };
    const r = rnd(42);
    const noisy = Uint8Array.from({ length: 50_000 }, () => r() & 0x3f);
    for (const input of [noisy, new Uint8Array(100_000).fill(7), ascii('abcabcabc'.repeat(2000))]) {
      expect(lzwDecompress(lzwCompress(input), 1 << 20)).toEqual(input);
    }
  });

  it('decodes the compressed messages a real Serf sent (Go-produced LZW)', () => {
    const c = loadCapture('plaintext');
    const streams = captured(c, 'tcp-in').filter((b) => b[0] === MessageType.compress);
    expect(streams.length).toBeGreaterThan(0);
    for (const s of streams) {
      const { data } = decodeCompressBody(s, 1);
      const plain = lzwDecompress(data, 1 << 20);
      expect([MessageType.pushPull, MessageType.ack]).toContain(plain[0]);
      // Our writer yields the very same bytes as Go's for the same input.
      expect(hex(lzwCompress(plain))).toBe(hex(data));
    }
  });

  it('reads a stream that fills the code table without a clear code, as Go reader does', () => {
    // Go's writer clears before the table fills; other writers need not. Literals only: each one
    // after the first defines the next code as (previous literal, this literal), up to code 4095.
    const bytes: number[] = [];
    let bits = 0;
    let nBits = 0;
    let width = 9;
    let hi = 257;
    let last = -1;
    const put = (code: number) => {
      bits |= code << nBits;
      nBits += width;
      while (nBits >= 8) {
        bytes.push(bits & 0xff);
        bits >>>= 8;
        nBits -= 8;
      }
      if (code === 256) return; // a clear code leaves the reader at width 9, hi 257
      // The reader's bookkeeping after each code, which fixes the width of the next one.
      last = code;
      hi++;
      if (hi >= 1 << width) {
        if (width === 12) {
          last = -1;
          hi--;
        } else width++;
      }
    };
    const literals = Array.from({ length: 4095 - 258 + 2 }, (_, i) => (i * 7) % 251);
    put(256);
    for (const l of literals) put(l);
    expect([hi, last]).toEqual([4095, -1]); // full: 4095 is defined, nothing more will be
    put(4095);
    put(257);
    if (nBits > 0) bytes.push(bits & 0xff);
    const out = lzwDecompress(Uint8Array.from(bytes), 1 << 20);
    expect(out).toEqual(Uint8Array.from([...literals, ...literals.slice(-2)]));
  });

  it('bounds output (a tiny input can expand a thousandfold) and rejects corrupt codes', () => {
    const bomb = lzwCompress(new Uint8Array(1 << 20));
    expect(bomb.length).toBeLessThan(3000);
    expect(() => lzwDecompress(bomb, 64 * 1024)).toThrow(expect.objectContaining({ code: 'too-large' }));
    expect(() => lzwDecompress(unhex('00c3'), 100)).toThrow(DecodeError); // no end code
    expect(() => lzwDecompress(unhex('00 ff ff ff'), 100)).toThrow(DecodeError); // code beyond the table
  });
});
