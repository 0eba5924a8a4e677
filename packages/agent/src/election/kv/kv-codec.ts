// KV commands and snapshots as bytes. Commands ride in log entries, so every replica decodes the
// same bytes: a malformed command is a deterministic 'malformed' result at apply, never a throw.
//
//   command:  u8 version(1) | u8 op (1 put, 2 cas, 3 delete, 4 cas-delete) | u32 key len | key
//             | [cas, cas-delete: f64 index] | [put, cas: u32 value len | value]
//   snapshot: u8 version(1) | u32 count | count * (key str | value bytes | f64 create | f64 modify)

import { ByteReader, type ByteReadFailure } from '../byte-reader.ts';
import type { KvCommand, KvEntry } from './types.ts';

const VERSION = 1;
const OPS = ['put', 'cas', 'delete', 'cas-delete'] as const;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

class ByteWriter {
  private parts: Uint8Array[] = [];
  private size = 0;
  u8(v: number): void {
    this.push(Uint8Array.of(v));
  }
  u32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.push(b);
  }
  f64(v: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.push(b);
  }
  bytes(v: Uint8Array): void {
    this.u32(v.length);
    this.push(v);
  }
  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.size += b.length;
  }
  done(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

class KvReader extends ByteReader {
  protected override failure(reason: ByteReadFailure): Error {
    return new Error(reason === 'truncated' ? 'truncated' : 'trailing bytes');
  }
  index(): number {
    const v = this.f64();
    if (!Number.isSafeInteger(v) || v < 0) throw new Error('index is not a non-negative integer');
    return v;
  }
  str(): string {
    return decoder.decode(this.bytes());
  }
}

export function encodeKvCommand(cmd: KvCommand): Uint8Array {
  const w = new ByteWriter();
  w.u8(VERSION);
  w.u8(OPS.indexOf(cmd.op) + 1);
  w.bytes(encoder.encode(cmd.key));
  if (cmd.op === 'cas' || cmd.op === 'cas-delete') w.f64(cmd.index);
  if (cmd.op === 'put' || cmd.op === 'cas') w.bytes(cmd.value);
  return w.done();
}

/** The command in `data`, or a message saying why it is malformed. */
export function decodeKvCommand(data: Uint8Array): KvCommand | string {
  try {
    const r = new KvReader(data);
    if (r.u8() !== VERSION) return 'unknown command version';
    const op = OPS[r.u8() - 1];
    if (!op) return 'unknown command op';
    const key = r.str();
    let cmd: KvCommand;
    if (op === 'put') cmd = { op, key, value: r.bytes() };
    else if (op === 'cas') {
      const index = r.index();
      cmd = { op, key, index, value: r.bytes() };
    } else if (op === 'delete') cmd = { op, key };
    else cmd = { op, key, index: r.index() };
    r.end();
    return cmd;
  } catch (err) {
    return `malformed command: ${(err as Error).message}`;
  }
}

export function encodeKvSnapshot(entries: Iterable<KvEntry>, count: number): Uint8Array {
  const w = new ByteWriter();
  w.u8(VERSION);
  w.u32(count);
  for (const e of entries) {
    w.bytes(encoder.encode(e.key));
    w.bytes(e.value);
    w.f64(e.createIndex);
    w.f64(e.modifyIndex);
  }
  return w.done();
}

/** Throws with a message when `data` is not a KV snapshot. */
export function decodeKvSnapshot(data: Uint8Array): KvEntry[] {
  const r = new KvReader(data);
  if (r.u8() !== VERSION) throw new Error('unknown snapshot version');
  const count = r.u32();
  const out: KvEntry[] = [];
  for (let i = 0; i < count; i++) {
    const key = r.str();
    const value = r.bytes();
    out.push({ key, value, createIndex: r.index(), modifyIndex: r.index() });
  }
  r.end();
  return out;
}
