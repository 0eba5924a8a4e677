// LZW as Go's compress/lzw with LSB bit order and litWidth 8, which memberlist uses for its
// compressMsg (util.go compressPayload). Codes start 9 bits wide and grow to 12; 256 is the clear
// code and 257 end-of-data. Go's writer (since Go 1.17) sends a clear code first; older writers did
// not, and the reader accepts both.

import { DecodeError } from './decode-error.ts';

const LIT_WIDTH = 8;
const CLEAR = 1 << LIT_WIDTH; // 256
const EOF = CLEAR + 1; // 257
const MAX_WIDTH = 12;
const MAX_CODE = (1 << MAX_WIDTH) - 1; // 4095
const INVALID = 0xffff;

/** Decompresses a Go LZW stream. Output beyond `maxOutput` bytes is refused (LZW expands ~1000×). */
export function lzwDecompress(input: Uint8Array, maxOutput: number): Uint8Array {
  const suffix = new Uint8Array(1 << MAX_WIDTH);
  const prefix = new Uint16Array(1 << MAX_WIDTH);
  // Scratch for one code's expansion, written back to front.
  const scratch = new Uint8Array(1 << MAX_WIDTH);
  let out = new Uint8Array(Math.min(maxOutput, Math.max(64, input.length * 4)));
  let o = 0;
  const emit = (from: number): void => {
    const n = scratch.length - from;
    if (o + n > maxOutput) throw new DecodeError('too-large', `lzw: output exceeds ${maxOutput} bytes`);
    if (o + n > out.length) {
      const grown = new Uint8Array(Math.min(maxOutput, Math.max(o + n, out.length * 2)));
      grown.set(out.subarray(0, o));
      out = grown;
    }
    out.set(scratch.subarray(from), o);
    o += n;
  };

  let width = LIT_WIDTH + 1;
  let hi = EOF;
  let overflow = 1 << width;
  let last = INVALID;
  let bits = 0;
  let nBits = 0;
  let pos = 0;

  for (;;) {
    while (nBits < width) {
      if (pos >= input.length) throw new DecodeError('malformed', 'lzw: stream ends without an end code');
      bits |= input[pos++]! << nBits;
      nBits += 8;
    }
    const code = bits & ((1 << width) - 1);
    bits >>>= width;
    nBits -= width;

    if (code === CLEAR) {
      width = LIT_WIDTH + 1;
      hi = EOF;
      overflow = 1 << width;
      last = INVALID;
      continue;
    }
    if (code === EOF) return out.slice(0, o);

    let i = scratch.length;
    if (code < CLEAR) {
      scratch[--i] = code;
      if (last !== INVALID) {
        suffix[hi] = code;
        prefix[hi] = last;
      }
    } else if (code <= hi) {
      let c = code;
      if (code === hi) {
        // The code being defined right now: last expansion + its own first byte.
        if (last === INVALID) throw new DecodeError('malformed', 'lzw: invalid code');
        c = last;
        while (c >= CLEAR) c = prefix[c]!;
        scratch[--i] = c;
        c = last;
      }
      while (c >= CLEAR) {
        scratch[--i] = suffix[c]!;
        c = prefix[c]!;
      }
      scratch[--i] = c;
      if (last !== INVALID) {
        suffix[hi] = c;
        prefix[hi] = last;
      }
    } else {
      throw new DecodeError('malformed', 'lzw: invalid code');
    }
    emit(i);

    last = code;
    hi++;
    if (hi >= overflow) {
      if (width === MAX_WIDTH) {
        // Table full: stop defining codes until the writer sends a clear code.
        last = INVALID;
        hi--;
      } else {
        width++;
        overflow = 1 << width;
      }
    }
  }
}

/** Compresses as Go's lzw.NewWriter(w, lzw.LSB, 8) followed by Close. */
export function lzwCompress(input: Uint8Array): Uint8Array {
  const bytes: number[] = [];
  let bits = 0;
  let nBits = 0;
  let width = LIT_WIDTH + 1;
  let hi = EOF;
  let overflow = 1 << width;
  // (prefix code << 8 | byte) -> code. The table is cleared when codes run out, like Go's.
  let table = new Map<number, number>();

  const write = (code: number): void => {
    bits |= code << nBits;
    nBits += width;
    while (nBits >= 8) {
      bytes.push(bits & 0xff);
      bits >>>= 8;
      nBits -= 8;
    }
  };
  /** Returns false when the table was reset (the key must not be added). */
  const incHi = (): boolean => {
    hi++;
    if (hi === overflow) {
      width++;
      overflow <<= 1;
    }
    if (hi === MAX_CODE) {
      write(CLEAR);
      width = LIT_WIDTH + 1;
      hi = EOF;
      overflow = 1 << width;
      table = new Map();
      return false;
    }
    return true;
  };

  write(CLEAR);
  if (input.length > 0) {
    let code = input[0]!;
    for (let k = 1; k < input.length; k++) {
      const literal = input[k]!;
      const key = (code << 8) | literal;
      const hit = table.get(key);
      if (hit !== undefined) {
        code = hit;
        continue;
      }
      write(code);
      code = literal;
      if (incHi()) table.set(key, hi);
    }
    write(code);
    incHi();
  }
  write(EOF);
  if (nBits > 0) bytes.push(bits & 0xff);
  return Uint8Array.from(bytes);
}
