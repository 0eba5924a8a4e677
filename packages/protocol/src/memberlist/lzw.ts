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

// The code tables live for the process: LZW runs on every gossip packet and push/pull, and the
// calls are synchronous, so one set serves them all without allocating per call.
const suffixes = new Uint8Array(1 << MAX_WIDTH);
const prefixes = new Uint16Array(1 << MAX_WIDTH);
/** Bytes a code expands to; a code's expansion is written back to front along its prefix chain. */
const lengths = new Uint16Array(1 << MAX_WIDTH);
/** Writer's (prefix code, byte) -> code hash, open addressing as Go's: key << 12 | code, 0 empty. */
const TABLE_BITS = 14;
const TABLE_MASK = (1 << TABLE_BITS) - 1;
const table = new Uint32Array(1 << TABLE_BITS);

/** Decompresses a Go LZW stream. Output beyond `maxOutput` bytes is refused (LZW expands ~1000×). */
export function lzwDecompress(input: Uint8Array, maxOutput: number): Uint8Array {
  let out = new Uint8Array(Math.min(maxOutput, Math.max(64, input.length * 4)));
  let o = 0;
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
    // Every code up to hi was defined since the last clear (hi itself only once the table is
    // full), so the tables hold it; stale entries from an earlier stream are never reached.
    if (code > hi) throw new DecodeError('malformed', 'lzw: invalid code');

    // The code being defined right now is the last expansion plus its own first byte (KwKwK).
    const kwkwk = code === hi && last !== INVALID;
    const n = kwkwk ? expansionLength(last) + 1 : expansionLength(code);
    if (o + n > maxOutput) throw new DecodeError('too-large', `lzw: output exceeds ${maxOutput} bytes`);
    if (o + n > out.length) {
      const grown = new Uint8Array(Math.min(maxOutput, Math.max(o + n, out.length * 2)));
      grown.set(out.subarray(0, o));
      out = grown;
    }
    let first: number;
    if (code < CLEAR) {
      out[o] = first = code;
    } else {
      let c = kwkwk ? last : code;
      let i = o + (kwkwk ? n - 2 : n - 1);
      while (c >= CLEAR) {
        out[i--] = suffixes[c]!;
        c = prefixes[c]!;
      }
      out[i] = first = c;
      if (kwkwk) out[o + n - 1] = first;
    }
    if (last !== INVALID) {
      suffixes[hi] = first;
      prefixes[hi] = last;
      lengths[hi] = expansionLength(last) + 1;
    }
    o += n;

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

function expansionLength(code: number): number {
  return code < CLEAR ? 1 : lengths[code]!;
}

/** Compresses as Go's lzw.NewWriter(w, lzw.LSB, 8) followed by Close. */
export function lzwCompress(input: Uint8Array): Uint8Array {
  // At most 12 bits per input byte, plus a clear code per table's worth of codes and the end code.
  const out = new Uint8Array(Math.ceil((input.length * 3) / 2) + (input.length >> 10) * 2 + 8);
  let o = 0;
  let bits = 0;
  let nBits = 0;
  let width = LIT_WIDTH + 1;
  let hi = EOF;
  let overflow = 1 << width;
  table.fill(0);

  const write = (code: number): void => {
    bits |= code << nBits;
    nBits += width;
    while (nBits >= 8) {
      out[o++] = bits & 0xff;
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
      table.fill(0);
      return false;
    }
    return true;
  };

  write(CLEAR);
  if (input.length > 0) {
    let code = input[0]!;
    outer: for (let k = 1; k < input.length; k++) {
      const literal = input[k]!;
      const key = (code << 8) | literal;
      let h = ((key >>> 12) ^ key) & TABLE_MASK;
      for (let entry = table[h]!; entry !== 0; h = (h + 1) & TABLE_MASK, entry = table[h]!) {
        if (entry >>> 12 === key) {
          code = entry & MAX_CODE;
          continue outer;
        }
      }
      write(code);
      code = literal;
      // Codes are >= 258, so an entry is never 0 (the empty marker).
      if (incHi()) table[h] = ((key << 12) | hi) >>> 0;
    }
    write(code);
    incHi();
  }
  write(EOF);
  if (nBits > 0) out[o++] = bits & 0xff;
  return out.slice(0, o);
}
