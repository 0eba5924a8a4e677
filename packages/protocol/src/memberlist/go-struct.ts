// Reading decoded msgpack maps the way Go's codec fills a struct: unknown fields are ignored, a
// missing field or nil leaves the zero value, a value of the wrong kind or out of the Go type's
// range is an error. Every failure is a DecodeError.

import { DecodeError } from './decode-error.ts';
import { bytesToString, type MsgValue } from './msgpack-go.ts';

export type GoStruct = ReadonlyMap<string, MsgValue>;

const EMPTY: GoStruct = new Map();

export function asStruct(v: MsgValue | undefined, what: string): GoStruct {
  if (v === undefined || v === null) return EMPTY;
  if (v instanceof Map) return v;
  throw new DecodeError('malformed', `${what}: expected a map`);
}

/** An unsigned integer of at most `bits` bits (Go uint8/16/32/64). */
export function uintField(s: GoStruct, name: string, bits: 8 | 16 | 32 | 64): number {
  const v = s.get(name);
  if (v === undefined || v === null) return 0;
  if (typeof v === 'bigint') throw new DecodeError('too-large', `${name}: ${v} is beyond 2^53`);
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new DecodeError('malformed', `${name}: expected an integer`);
  if (v < 0) throw new DecodeError('malformed', `${name}: negative value for an unsigned field`);
  if (bits < 64 && v >= 2 ** bits) throw new DecodeError('too-large', `${name}: ${v} overflows uint${bits}`);
  return v;
}

/** A Go int that memberlist uses as a count or length: negative values are refused. */
export function countField(s: GoStruct, name: string): number {
  const v = s.get(name);
  if (v === undefined || v === null) return 0;
  if (typeof v === 'bigint') throw new DecodeError('too-large', `${name}: ${v} is beyond 2^53`);
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new DecodeError('malformed', `${name}: expected an integer`);
  if (v < 0) throw new DecodeError('malformed', `${name}: negative count`);
  return v;
}

/** A Go signed int (e.g. time.Duration). */
export function intField(s: GoStruct, name: string): number {
  const v = s.get(name);
  if (v === undefined || v === null) return 0;
  if (typeof v === 'bigint') throw new DecodeError('too-large', `${name}: ${v} is beyond 2^53`);
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new DecodeError('malformed', `${name}: expected an integer`);
  return v;
}

export function boolField(s: GoStruct, name: string): boolean {
  const v = s.get(name);
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new DecodeError('malformed', `${name}: expected a bool`);
  return v;
}

export function stringValue(v: MsgValue | undefined, what: string): string {
  if (v === undefined || v === null) return '';
  if (v instanceof Uint8Array) return bytesToString(v);
  throw new DecodeError('malformed', `${what}: expected a string`);
}

export function stringField(s: GoStruct, name: string): string {
  return stringValue(s.get(name), name);
}

/** Go []byte: raw/bin, or (as Go also accepts) an array of small integers. Always a copy. */
export function bytesValue(v: MsgValue | undefined, what: string): Uint8Array {
  if (v === undefined || v === null) return new Uint8Array(0);
  if (v instanceof Uint8Array) return v.slice();
  if (Array.isArray(v)) {
    const out = new Uint8Array(v.length);
    v.forEach((x, i) => {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 255) {
        throw new DecodeError('malformed', `${what}: expected bytes`);
      }
      out[i] = x;
    });
    return out;
  }
  throw new DecodeError('malformed', `${what}: expected bytes`);
}

export function bytesField(s: GoStruct, name: string): Uint8Array {
  return bytesValue(s.get(name), name);
}

/** A []byte field that Go marks omitempty: absent or empty reads as undefined. */
export function optionalBytesField(s: GoStruct, name: string): Uint8Array | undefined {
  const b = bytesField(s, name);
  return b.length === 0 ? undefined : b;
}

export function arrayField(s: GoStruct, name: string): readonly MsgValue[] {
  const v = s.get(name);
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v;
  throw new DecodeError('malformed', `${name}: expected an array`);
}
