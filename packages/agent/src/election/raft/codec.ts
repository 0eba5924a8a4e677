// Raft messages on the wire. A small fixed-order binary layout (no schema library: the simulator
// pushes every message through this codec, millions per soak), checked field by field with bounds
// before anything is allocated from a length. Peers are authenticated (pnet + Noise) but a bug or a
// compromised voter is still hostile input: every malformed message is refused with a reason the
// integration counts, never thrown.
//
//   byte 0: CODEC_VERSION, byte 1: type code, then the type's fields in order:
//   uint = float64 LE holding a safe non-negative integer; time = finite float64 LE;
//   str = u16 length + UTF-8; bytes = u32 length + raw; bool = one byte 0/1.

import { ByteReader, type ByteReadFailure } from '../byte-reader.ts';
import { decodeConfig, isNodeId, MAX_NODE_ID_BYTES, MAX_VOTERS } from './config.ts';
import type { Entry, EntryKind, RaftMessage, RaftMessageType, Snapshot } from './types.ts';

export const CODEC_VERSION = 1;
/** The largest encoded message accepted (a snapshot of a full KV store fits). */
export const MAX_RAFT_MESSAGE_BYTES = 8 * 1024 * 1024;
/** The most entries one append may carry. */
export const MAX_ENTRIES_PER_MESSAGE = 1024;
/** The longest read-index request id. */
export const MAX_READ_ID_BYTES = 128;

export type RaftDecodeError =
  | 'too-large'
  | 'truncated'
  | 'bad-version'
  | 'bad-type'
  | 'bad-field'
  | 'bad-entries'
  | 'trailing-bytes';

const TYPES: RaftMessageType[] = [
  'prevote',
  'vote',
  'prevoteResp',
  'voteResp',
  'append',
  'appendResp',
  'heartbeat',
  'heartbeatResp',
  'snapshot',
  'timeoutNow',
  'readIndex',
  'readIndexResp',
];
const TYPE_CODE = new Map(TYPES.map((t, i) => [t, i + 1]));
const KINDS: EntryKind[] = ['normal', 'config', 'noop'];

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** One growing scratch buffer for every encode (the result is copied out), to spare the GC. */
let scratch = new Uint8Array(4096);

class Writer {
  private buf = scratch;
  private view = new DataView(scratch.buffer);
  private len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    if (size <= 1024 * 1024) scratch = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v;
  }
  num(v: number): void {
    this.room(8);
    this.view.setFloat64(this.len, v, true);
    this.len += 8;
  }
  str(v: string): void {
    this.room(2 + v.length * 3);
    const { written } = encoder.encodeInto(v, this.buf.subarray(this.len + 2));
    this.view.setUint16(this.len, written, true);
    this.len += 2 + written;
  }
  bytes(v: Uint8Array): void {
    this.room(4 + v.length);
    this.view.setUint32(this.len, v.length, true);
    this.buf.set(v, this.len + 4);
    this.len += 4 + v.length;
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

class Fail extends Error {
  readonly reason: RaftDecodeError;
  constructor(reason: RaftDecodeError) {
    super(reason);
    this.reason = reason;
  }
}

class Reader extends ByteReader {
  protected override failure(reason: ByteReadFailure): Error {
    return new Fail(reason);
  }
  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new Fail('bad-field');
    return v === 1;
  }
  time(): number {
    const v = this.f64();
    if (!Number.isFinite(v)) throw new Fail('bad-field');
    return v;
  }
  uint(): number {
    const v = this.time();
    if (!Number.isSafeInteger(v) || v < 0) throw new Fail('bad-field');
    return v;
  }
  str(maxBytes: number): string {
    this.need(2);
    const n = this.view.getUint16(this.pos, true);
    if (n > maxBytes) throw new Fail('bad-field');
    this.pos += 2;
    this.need(n);
    // Ids are short ASCII almost always: build those directly (TextDecoder's call costs more).
    let s = '';
    const end = this.pos + n;
    let ascii = n <= 64;
    for (let i = this.pos; ascii && i < end; i++) {
      const b = this.buf[i]!;
      if (b >= 0x80) ascii = false;
      else s += String.fromCharCode(b);
    }
    if (!ascii) {
      try {
        s = decoder.decode(this.buf.subarray(this.pos, end));
      } catch {
        throw new Fail('bad-field');
      }
    }
    this.pos += n;
    return s;
  }
  id(): string {
    const s = this.str(MAX_NODE_ID_BYTES);
    if (!isNodeId(s)) throw new Fail('bad-field');
    return s;
  }
}

function writeEntry(w: Writer, e: Entry): void {
  w.u8(KINDS.indexOf(e.kind));
  w.num(e.index);
  w.num(e.term);
  w.bytes(e.data);
}

function readEntry(r: Reader): Entry {
  const kind = KINDS[r.u8()];
  if (!kind) throw new Fail('bad-entries');
  const index = r.uint();
  const term = r.uint();
  const data = r.bytes();
  if (kind === 'noop' && data.length > 0) throw new Fail('bad-entries');
  if (kind === 'config' && !decodeConfig(data)) throw new Fail('bad-entries');
  return { index, term, kind, data };
}

function writeSnapshot(w: Writer, s: Snapshot): void {
  w.num(s.index);
  w.num(s.term);
  w.num(s.token);
  w.u8(s.voters.length);
  for (const v of s.voters) w.str(v);
  w.bytes(s.data);
}

function readSnapshot(r: Reader): Snapshot {
  const index = r.uint();
  const term = r.uint();
  const token = r.uint();
  const n = r.u8();
  if (n === 0 || n > MAX_VOTERS) throw new Fail('bad-field');
  const voters: string[] = [];
  for (let i = 0; i < n; i++) {
    const v = r.id();
    if (voters.includes(v)) throw new Fail('bad-field');
    voters.push(v);
  }
  const data = r.bytes();
  if (token > index || term === 0 || index === 0) throw new Fail('bad-field');
  return { index, term, voters, token, data };
}

export function encodeRaftMessage(msg: RaftMessage): Uint8Array {
  const w = new Writer();
  w.u8(CODEC_VERSION);
  w.u8(TYPE_CODE.get(msg.type)!);
  w.str(msg.from);
  w.str(msg.to);
  w.num(msg.term);
  switch (msg.type) {
    case 'prevote':
    case 'vote':
      w.num(msg.lastIndex);
      w.num(msg.lastTerm);
      w.u8(msg.transfer ? 1 : 0);
      break;
    case 'prevoteResp':
    case 'voteResp':
      w.u8(msg.reject ? 1 : 0);
      break;
    case 'append':
      w.num(msg.prevIndex);
      w.num(msg.prevTerm);
      w.num(msg.commit);
      w.num(msg.ctx);
      w.num(msg.entries.length);
      for (const e of msg.entries) writeEntry(w, e);
      break;
    case 'appendResp':
      w.u8(msg.reject ? 1 : 0);
      w.num(msg.index);
      w.num(msg.hint);
      w.num(msg.ctx);
      break;
    case 'heartbeat':
      w.num(msg.commit);
      w.num(msg.ctx);
      break;
    case 'heartbeatResp':
      w.num(msg.ctx);
      break;
    case 'snapshot':
      w.num(msg.ctx);
      writeSnapshot(w, msg.snapshot);
      break;
    case 'timeoutNow':
      break;
    case 'readIndex':
      w.str(msg.id);
      break;
    case 'readIndexResp':
      w.str(msg.id);
      w.num(msg.index);
      break;
  }
  return w.done();
}

export function decodeRaftMessage(
  bytes: Uint8Array,
): { ok: true; msg: RaftMessage } | { ok: false; reason: RaftDecodeError } {
  if (bytes.length > MAX_RAFT_MESSAGE_BYTES) return { ok: false, reason: 'too-large' };
  try {
    return { ok: true, msg: read(new Reader(bytes)) };
  } catch (err) {
    if (err instanceof Fail) return { ok: false, reason: err.reason };
    throw err;
  }
}

function read(r: Reader): RaftMessage {
  if (r.u8() !== CODEC_VERSION) throw new Fail('bad-version');
  const type = TYPES[r.u8() - 1];
  if (!type) throw new Fail('bad-type');
  const from = r.id();
  const to = r.id();
  const term = r.uint();
  const env = { from, to, term };
  let msg: RaftMessage;
  switch (type) {
    case 'prevote':
    case 'vote': {
      const lastIndex = r.uint();
      const lastTerm = r.uint();
      if (lastTerm > term) throw new Fail('bad-field');
      msg = { ...env, type, lastIndex, lastTerm, transfer: r.bool() };
      break;
    }
    case 'prevoteResp':
    case 'voteResp':
      msg = { ...env, type, reject: r.bool() };
      break;
    case 'append': {
      const prevIndex = r.uint();
      const prevTerm = r.uint();
      const commit = r.uint();
      const ctx = r.time();
      const n = r.uint();
      if (n > MAX_ENTRIES_PER_MESSAGE || prevTerm > term) throw new Fail('bad-entries');
      const entries: Entry[] = [];
      let lastTerm = prevTerm;
      for (let i = 0; i < n; i++) {
        const e = readEntry(r);
        // Contiguous after prevIndex, terms never falling and never above the sender's.
        if (e.index !== prevIndex + 1 + i || e.term < lastTerm || e.term > term) throw new Fail('bad-entries');
        lastTerm = e.term;
        entries.push(e);
      }
      msg = { ...env, type, prevIndex, prevTerm, entries, commit, ctx };
      break;
    }
    case 'appendResp':
      msg = { ...env, type, reject: r.bool(), index: r.uint(), hint: r.uint(), ctx: r.time() };
      break;
    case 'heartbeat':
      msg = { ...env, type, commit: r.uint(), ctx: r.time() };
      break;
    case 'heartbeatResp':
      msg = { ...env, type, ctx: r.time() };
      break;
    case 'snapshot': {
      const ctx = r.time();
      const snapshot = readSnapshot(r);
      if (snapshot.term > term) throw new Fail('bad-field');
      msg = { ...env, type, ctx, snapshot };
      break;
    }
    case 'timeoutNow':
      msg = { ...env, type };
      break;
    case 'readIndex':
      msg = { ...env, type, id: r.str(MAX_READ_ID_BYTES) };
      break;
    case 'readIndexResp':
      msg = { ...env, type, id: r.str(MAX_READ_ID_BYTES), index: r.uint() };
      break;
  }
  r.end();
  return msg;
}
