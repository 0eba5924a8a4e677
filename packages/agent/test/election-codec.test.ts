// The Raft wire codec: every message type round-trips, and hostile bytes are refused with a
// reason (never a throw), including every truncation of a valid message and random garbage.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeRaftMessage,
  encodeRaftMessage,
  MAX_ENTRIES_PER_MESSAGE,
  MAX_RAFT_MESSAGE_BYTES,
} from '../src/election/raft/codec.ts';
import { encodeConfig } from '../src/election/raft/config.ts';
import type { Entry, RaftMessage } from '../src/election/raft/types.ts';

const env = { from: 'node-a', to: 'node-ü', term: 7 };
const entries: Entry[] = [
  { index: 11, term: 6, kind: 'noop', data: new Uint8Array() },
  { index: 12, term: 7, kind: 'config', data: encodeConfig(['a', 'b', 'c']) },
  { index: 13, term: 7, kind: 'normal', data: new Uint8Array([1, 2, 3]) },
];

const SAMPLES: RaftMessage[] = [
  { ...env, type: 'prevote', lastIndex: 10, lastTerm: 6, transfer: false },
  { ...env, type: 'vote', lastIndex: 10, lastTerm: 6, transfer: true },
  { ...env, type: 'prevoteResp', reject: false },
  { ...env, type: 'voteResp', reject: true },
  { ...env, type: 'append', prevIndex: 10, prevTerm: 6, entries, commit: 9, ctx: 1234.5678 },
  { ...env, type: 'append', prevIndex: 0, prevTerm: 0, entries: [], commit: 0, ctx: 0 },
  { ...env, type: 'appendResp', reject: true, index: 10, hint: 4, ctx: 99.25 },
  { ...env, type: 'heartbeat', commit: 9, ctx: 5 },
  { ...env, type: 'heartbeatResp', ctx: 5 },
  {
    ...env,
    type: 'snapshot',
    ctx: 3,
    snapshot: { index: 40, term: 6, voters: ['a', 'b', 'c'], token: 33, data: new Uint8Array([9, 9]) },
  },
  { ...env, type: 'timeoutNow' },
  { ...env, type: 'readIndex', id: 'read-1' },
  { ...env, type: 'readIndexResp', id: 'read-1', index: 12 },
];

describe('raft codec', () => {
  it('round-trips every message type', () => {
    for (const m of SAMPLES) {
      const d = decodeRaftMessage(encodeRaftMessage(m));
      expect(d).toEqual({ ok: true, msg: m });
    }
  });

  it('refuses every truncation and any trailing byte of every valid message', () => {
    for (const m of SAMPLES) {
      const bytes = encodeRaftMessage(m);
      for (let len = 0; len < bytes.length; len++) {
        expect(decodeRaftMessage(bytes.subarray(0, len)).ok, `${m.type} cut at ${len}`).toBe(false);
      }
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      expect(decodeRaftMessage(longer)).toEqual({ ok: false, reason: 'trailing-bytes' });
    }
  });

  it('never throws on random bytes, nor on single-byte corruptions of valid messages', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const d = decodeRaftMessage(bytes);
        expect(typeof d.ok).toBe('boolean');
      }),
      { numRuns: 2000, seed: 7 },
    );
    fc.assert(
      fc.property(fc.constantFrom(...SAMPLES), fc.nat(), fc.integer({ min: 0, max: 255 }), (m, pos, byte) => {
        const bytes = encodeRaftMessage(m);
        bytes[pos % bytes.length] = byte;
        const d = decodeRaftMessage(bytes);
        // Either refused, or a well-formed message that encodes back to the same bytes.
        if (d.ok) expect(encodeRaftMessage(d.msg)).toEqual(bytes);
      }),
      { numRuns: 3000, seed: 11 },
    );
  });

  it('refuses bad versions, types and field values, naming the reason', () => {
    const ok = encodeRaftMessage(SAMPLES[0]!);
    const v = ok.slice();
    v[0] = 2;
    expect(decodeRaftMessage(v)).toEqual({ ok: false, reason: 'bad-version' });
    const t = ok.slice();
    t[1] = 200;
    expect(decodeRaftMessage(t)).toEqual({ ok: false, reason: 'bad-type' });
    // A term that is not a safe non-negative integer.
    expect(decodeRaftMessage(encodeRaftMessage({ ...SAMPLES[2]!, term: -1 }))).toEqual({
      ok: false,
      reason: 'bad-field',
    });
    expect(decodeRaftMessage(encodeRaftMessage({ ...SAMPLES[2]!, term: 1.5 }))).toEqual({
      ok: false,
      reason: 'bad-field',
    });
    // A non-finite ctx.
    expect(decodeRaftMessage(encodeRaftMessage({ ...SAMPLES[8]!, ctx: Number.NaN } as RaftMessage)).ok).toBe(false);
    // An empty node id; a prevote claiming a last term above its own term.
    expect(decodeRaftMessage(encodeRaftMessage({ ...SAMPLES[2]!, from: '' })).ok).toBe(false);
    expect(decodeRaftMessage(encodeRaftMessage({ ...SAMPLES[0]!, lastTerm: 8 } as RaftMessage)).ok).toBe(false);
    // A read id over its bound.
    expect(decodeRaftMessage(encodeRaftMessage({ ...env, type: 'readIndex', id: 'x'.repeat(129) })).ok).toBe(false);
  });

  it('refuses appends whose entries are not contiguous, go back in term, exceed the sender term, or are malformed', () => {
    const append = (es: Entry[], prevIndex = 10, prevTerm = 6): RaftMessage => ({
      ...env,
      type: 'append',
      prevIndex,
      prevTerm,
      entries: es,
      commit: 0,
      ctx: 0,
    });
    const e = (index: number, term: number, kind: Entry['kind'] = 'normal', data = new Uint8Array([1])): Entry => ({
      index,
      term,
      kind,
      data,
    });
    const refused = (m: RaftMessage) => decodeRaftMessage(encodeRaftMessage(m));
    expect(refused(append([e(12, 7)]))).toEqual({ ok: false, reason: 'bad-entries' }); // gap
    expect(refused(append([e(11, 7), e(12, 6)]))).toEqual({ ok: false, reason: 'bad-entries' }); // term falls
    expect(refused(append([e(11, 8)]))).toEqual({ ok: false, reason: 'bad-entries' }); // above the sender's term
    expect(refused(append([e(11, 5)]))).toEqual({ ok: false, reason: 'bad-entries' }); // below prevTerm
    expect(refused(append([e(11, 7, 'noop')]))).toEqual({ ok: false, reason: 'bad-entries' }); // noop with data
    expect(refused(append([e(11, 7, 'config', new Uint8Array([1]))]))).toEqual({ ok: false, reason: 'bad-entries' });
    const many = Array.from({ length: MAX_ENTRIES_PER_MESSAGE + 1 }, (_, i) => e(11 + i, 7));
    expect(refused(append(many))).toEqual({ ok: false, reason: 'bad-entries' });
  });

  it('refuses anything over the size bound before parsing it', () => {
    expect(decodeRaftMessage(new Uint8Array(MAX_RAFT_MESSAGE_BYTES + 1))).toEqual({ ok: false, reason: 'too-large' });
  });

  it('refuses snapshots with duplicate or no voters, or a token beyond their index', () => {
    const snap = (s: Partial<{ voters: string[]; token: number }>): RaftMessage => ({
      ...env,
      type: 'snapshot',
      ctx: 0,
      snapshot: { index: 40, term: 6, voters: ['a', 'b'], token: 3, data: new Uint8Array(), ...s },
    });
    expect(decodeRaftMessage(encodeRaftMessage(snap({ voters: ['a', 'a'] }))).ok).toBe(false);
    expect(decodeRaftMessage(encodeRaftMessage(snap({ voters: [] }))).ok).toBe(false);
    expect(decodeRaftMessage(encodeRaftMessage(snap({ token: 41 }))).ok).toBe(false);
    expect(decodeRaftMessage(encodeRaftMessage(snap({}))).ok).toBe(true);
  });
});
