// msgpack exactly as Go's hashicorp/go-msgpack (ugorji codec, MsgpackHandle{}, WriteExt=false) writes
// it, which is what memberlist and Serf put on the wire:
//   - Go strings AND []byte (including []uint8 such as Vsn) are old-spec "raw": fixstr, 0xda, 0xdb.
//     There is no str8 (0xd9) and no bin (0xc4..0xc6) on the way out.
//   - integers take their smallest form; go-msgpack 0.5.x (Serf 0.9, memberlist 0.2) writes
//     non-negative signed ints as unsigned, so we do too.
//   - a nil slice is nil (0xc0), an empty one is a zero-length raw.
// @msgpack/msgpack cannot be told to do this (it writes str8 and bin), and its decoder throws a mix
// of error types, so this small codec owns both directions. The decoder accepts old and new spec,
// never interprets raw bytes as text, is bounded, and throws only DecodeError.

import { DecodeError } from './decode-error.ts';

/** A decoded msgpack value. Raw strings and bin stay bytes; struct maps are keyed by field name. */
export type MsgValue = null | boolean | number | bigint | Uint8Array | MsgValue[] | Map<string, MsgValue>;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8');

/** Go's string(bytes): never fails. Invalid UTF-8 becomes U+FFFD on our side. */
export function bytesToString(bytes: Uint8Array): string {
  // Field names and node names are short ASCII, read on every message: skip the decoder call.
  if (bytes.length <= 24) {
    let s = '';
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (b > 0x7f) return textDecoder.decode(bytes);
      s += String.fromCharCode(b);
    }
    return s;
  }
  return textDecoder.decode(bytes);
}

export function stringToBytes(s: string): Uint8Array {
  return textEncoder.encode(s);
}

/** Field lists (in declaration order, comma-joined) to the order Go writes them in. */
const sortedFields = new Map<string, readonly string[]>();

/** Append-only writer producing Go-compatible msgpack. */
export class GoMsgpackWriter {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(initialCapacity);
    this.view = new DataView(this.buf.buffer);
  }

  private reserve(n: number): number {
    const need = this.len + n;
    if (need > this.buf.length) {
      const next = new Uint8Array(Math.max(need, this.buf.length * 2));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.len;
    this.len = need;
    return at;
  }

  /** Bytes copied through untouched (type bytes, user state after a push/pull header). */
  bytes(data: Uint8Array): this {
    const at = this.reserve(data.length); // may replace this.buf
    this.buf.set(data, at);
    return this;
  }

  byte(b: number): this {
    const at = this.reserve(1);
    this.buf[at] = b;
    return this;
  }

  nil(): this {
    return this.byte(0xc0);
  }

  bool(b: boolean): this {
    return this.byte(b ? 0xc3 : 0xc2);
  }

  /** Go's EncodeUint: positive fixint, then uint8/16/32/64. */
  uint(n: number | bigint): this {
    if (typeof n === 'bigint') {
      if (n < 0n || n > 0xffff_ffff_ffff_ffffn) throw new RangeError(`uint out of range: ${n}`);
      if (n > 0xffff_ffffn) {
        const at = this.reserve(9);
        this.buf[at] = 0xcf;
        this.view.setBigUint64(at + 1, n);
        return this;
      }
      return this.uint(Number(n));
    }
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`uint out of range: ${n}`);
    if (n <= 0x7f) return this.byte(n);
    if (n <= 0xff) {
      const at = this.reserve(2);
      this.buf[at] = 0xcc;
      this.buf[at + 1] = n;
    } else if (n <= 0xffff) {
      const at = this.reserve(3);
      this.buf[at] = 0xcd;
      this.view.setUint16(at + 1, n);
    } else if (n <= 0xffff_ffff) {
      const at = this.reserve(5);
      this.buf[at] = 0xce;
      this.view.setUint32(at + 1, n);
    } else {
      const at = this.reserve(9);
      this.buf[at] = 0xcf;
      this.view.setBigUint64(at + 1, BigInt(n));
    }
    return this;
  }

  /** Go's EncodeInt as in go-msgpack 0.5.x: non-negative values go through uint. */
  int(n: number): this {
    if (!Number.isSafeInteger(n)) throw new RangeError(`int out of range: ${n}`);
    if (n >= 0) return this.uint(n);
    if (n >= -32) return this.byte(n & 0xff);
    if (n >= -0x80) {
      const at = this.reserve(2);
      this.buf[at] = 0xd0;
      this.view.setInt8(at + 1, n);
    } else if (n >= -0x8000) {
      const at = this.reserve(3);
      this.buf[at] = 0xd1;
      this.view.setInt16(at + 1, n);
    } else if (n >= -0x8000_0000) {
      const at = this.reserve(5);
      this.buf[at] = 0xd2;
      this.view.setInt32(at + 1, n);
    } else {
      const at = this.reserve(9);
      this.buf[at] = 0xd3;
      this.view.setBigInt64(at + 1, BigInt(n));
    }
    return this;
  }

  /** Go []byte / []uint8: old-spec raw. */
  raw(data: Uint8Array): this {
    this.rawHeader(data.length);
    return this.bytes(data);
  }

  /** Go []byte that may be nil: an empty slice is written as nil, as Go writes a nil slice. */
  rawOrNil(data: Uint8Array | undefined): this {
    return data === undefined || data.length === 0 ? this.nil() : this.raw(data);
  }

  /** A Go slice that may be nil: an empty one is written as nil, as Go writes a nil slice. */
  sliceOrNil<T>(items: readonly T[], write: (w: GoMsgpackWriter, item: T) => void): this {
    if (items.length === 0) return this.nil();
    this.arrayHeader(items.length);
    for (const item of items) write(this, item);
    return this;
  }

  /** Go string: old-spec raw of its UTF-8 bytes. */
  str(s: string): this {
    // Short ASCII (field names, node names) is written in place, without an encoder call.
    if (s.length < 32) {
      const at = this.reserve(1 + s.length);
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) {
          this.len = at;
          return this.raw(stringToBytes(s));
        }
        this.buf[at + 1 + i] = c;
      }
      this.buf[at] = 0xa0 | s.length;
      return this;
    }
    return this.raw(stringToBytes(s));
  }

  private rawHeader(n: number): void {
    if (n < 32) {
      this.byte(0xa0 | n);
    } else if (n <= 0xffff) {
      const at = this.reserve(3);
      this.buf[at] = 0xda;
      this.view.setUint16(at + 1, n);
    } else {
      const at = this.reserve(5);
      this.buf[at] = 0xdb;
      this.view.setUint32(at + 1, n);
    }
  }

  /**
   * A Go struct as a map keyed by field name. go-msgpack 0.5.x (what Serf 0.9 / memberlist 0.2 are
   * built with) writes the fields sorted by name, not in declaration order, so we sort too; field
   * names are ASCII, so JS string order is Go's byte order. Undefined entries are omitted
   * (`omitempty`).
   */
  struct(fields: Readonly<Record<string, ((w: GoMsgpackWriter) => void) | undefined>>): this {
    // Every message is a struct: sort each distinct field list once, not on every write.
    let signature = '';
    for (const k in fields) if (fields[k] !== undefined) signature += `${k},`;
    let names = sortedFields.get(signature);
    if (names === undefined) {
      names = signature.split(',').slice(0, -1).sort();
      sortedFields.set(signature, names);
    }
    this.mapHeader(names.length);
    for (const name of names) {
      this.str(name);
      fields[name]!(this);
    }
    return this;
  }

  arrayHeader(n: number): this {
    return this.containerHeader(n, 0x90, 0xdc);
  }

  mapHeader(n: number): this {
    return this.containerHeader(n, 0x80, 0xde);
  }

  private containerHeader(n: number, fix: number, b16: number): this {
    if (n < 16) return this.byte(fix | n);
    if (n <= 0xffff) {
      const at = this.reserve(3);
      this.buf[at] = b16;
      this.view.setUint16(at + 1, n);
    } else {
      const at = this.reserve(5);
      this.buf[at] = b16 + 1;
      this.view.setUint32(at + 1, n);
    }
    return this;
  }

  get length(): number {
    return this.len;
  }

  /** A copy of what was written. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

export interface MsgpackLimits {
  /** Deepest nesting of arrays and maps (memberlist's deepest message nests 5). */
  readonly maxDepth: number;
  /** Most elements in one array or entries in one map. */
  readonly maxContainerLen: number;
}

export const DEFAULT_MSGPACK_LIMITS: MsgpackLimits = { maxDepth: 32, maxContainerLen: 1 << 20 };

/** Decodes one msgpack value starting at `offset`. */
export function decodeMsgpack(
  buf: Uint8Array,
  offset = 0,
  limits: MsgpackLimits = DEFAULT_MSGPACK_LIMITS,
): { value: MsgValue; end: number } {
  const reader = new Reader(buf, offset, limits);
  const value = reader.value(0);
  return { value, end: reader.pos };
}

class Reader {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private readonly limits: MsgpackLimits;
  pos: number;

  constructor(buf: Uint8Array, offset: number, limits: MsgpackLimits) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = offset;
    this.limits = limits;
  }

  private need(n: number): number {
    if (this.pos + n > this.buf.length) {
      throw new DecodeError('truncated', `msgpack: need ${n} bytes at offset ${this.pos}`);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private u8(): number {
    return this.buf[this.need(1)]!;
  }
  private u16(): number {
    return this.view.getUint16(this.need(2));
  }
  private u32(): number {
    return this.view.getUint32(this.need(4));
  }

  private raw(n: number): Uint8Array {
    const at = this.need(n);
    return this.buf.subarray(at, at + n);
  }

  value(depth: number): MsgValue {
    const b = this.u8();
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if ((b & 0xe0) === 0xa0) return this.raw(b & 0x1f);
    if ((b & 0xf0) === 0x90) return this.array(b & 0x0f, depth);
    if ((b & 0xf0) === 0x80) return this.map(b & 0x0f, depth);
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4: // bin8, new spec
      case 0xd9: // str8, new spec
        return this.raw(this.u8());
      case 0xc5:
      case 0xda:
        return this.raw(this.u16());
      case 0xc6:
      case 0xdb:
        return this.raw(this.u32());
      case 0xca:
        return this.view.getFloat32(this.need(4));
      case 0xcb:
        return this.view.getFloat64(this.need(8));
      case 0xcc:
        return this.u8();
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf:
        return safeNumber(this.view.getBigUint64(this.need(8)));
      case 0xd0:
        return this.view.getInt8(this.need(1));
      case 0xd1:
        return this.view.getInt16(this.need(2));
      case 0xd2:
        return this.view.getInt32(this.need(4));
      case 0xd3:
        return safeNumber(this.view.getBigInt64(this.need(8)));
      case 0xdc:
        return this.array(this.u16(), depth);
      case 0xdd:
        return this.array(this.u32(), depth);
      case 0xde:
        return this.map(this.u16(), depth);
      case 0xdf:
        return this.map(this.u32(), depth);
      default:
        // 0xc1 (never used) and the ext family: go-msgpack with WriteExt=false never sends ext.
        throw new DecodeError('malformed', `msgpack: unsupported type byte 0x${b.toString(16)} at ${this.pos - 1}`);
    }
  }

  private checkContainer(n: number, depth: number): void {
    if (depth >= this.limits.maxDepth) throw new DecodeError('too-large', 'msgpack: nesting too deep');
    if (n > this.limits.maxContainerLen) throw new DecodeError('too-large', `msgpack: container of ${n} elements`);
    // Every element takes at least one byte, so a count beyond the bytes left cannot be complete yet.
    if (n > this.buf.length - this.pos) throw new DecodeError('truncated', 'msgpack: container runs past input');
  }

  private array(n: number, depth: number): MsgValue[] {
    this.checkContainer(n, depth);
    const out: MsgValue[] = [];
    for (let i = 0; i < n; i++) out.push(this.value(depth + 1));
    return out;
  }

  private map(n: number, depth: number): Map<string, MsgValue> {
    this.checkContainer(n, depth);
    const out = new Map<string, MsgValue>();
    for (let i = 0; i < n; i++) {
      const keyAt = this.pos;
      const key = this.value(depth + 1);
      let name: string;
      if (key instanceof Uint8Array) name = bytesToString(key);
      else if (typeof key === 'number' || typeof key === 'bigint') name = String(key);
      else throw new DecodeError('malformed', `msgpack: unsupported map key at ${keyAt}`);
      // Later duplicates win, as when Go decodes into a struct or map.
      out.set(name, this.value(depth + 1));
    }
    return out;
  }
}

function safeNumber(n: bigint): number | bigint {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}
