// Property and fuzz tests: arbitrary messages round-trip, and >= 100,000 generated or mutated
// packets and streams go through decodePacket and tryDecodeStream without a throw, every failure
// being one of the counted DropReasons.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DROP_REASONS,
  type DropReason,
  decodeMessage,
  decodePacket,
  encodeMessage,
  encodePacket,
  encodeStream,
  Keyring,
  type Message,
  type PushNodeState,
  tryDecodeStream,
} from '../src/index.ts';
import { captured, loadCapture } from './helpers.ts';

const u8 = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const name = fc.string({ maxLength: 40, unit: 'grapheme' });
const vsn = fc.array(u8, { minLength: 0, maxLength: 6 });
const optBytes = fc.option(fc.uint8Array({ minLength: 1, maxLength: 16 }), { nil: undefined });
const optPort = fc.option(fc.integer({ min: 1, max: 0xffff }), { nil: undefined });
const optName = fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined });

const nodeState: fc.Arbitrary<PushNodeState> = fc.record({
  name,
  addr: bytes(16),
  port: u16,
  meta: bytes(64),
  incarnation: u32,
  state: fc.constantFrom(0, 1, 2, 3),
  vsn,
});

const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    type: fc.constant('ping'),
    seqNo: u32,
    node: name,
    sourceAddr: optBytes,
    sourcePort: optPort,
    sourceNode: optName,
  }),
  fc.record({
    type: fc.constant('indirectPing'),
    seqNo: u32,
    target: bytes(16),
    port: u16,
    node: name,
    nack: fc.boolean(),
    sourceAddr: optBytes,
    sourcePort: optPort,
    sourceNode: optName,
  }),
  fc.record({ type: fc.constant('ack'), seqNo: u32, payload: bytes(80) }),
  fc.record({ type: fc.constant('nack'), seqNo: u32 }),
  fc.record({ type: fc.constantFrom('suspect', 'dead'), incarnation: u32, node: name, from: name }),
  fc.record({
    type: fc.constant('alive'),
    incarnation: u32,
    node: name,
    addr: bytes(16),
    port: u16,
    meta: bytes(100),
    vsn,
  }),
  fc.record({ type: fc.constant('user'), payload: bytes(100) }),
  fc.record({ type: fc.constant('err'), error: name }),
  fc.record({
    type: fc.constant('pushPull'),
    join: fc.boolean(),
    nodes: fc.array(nodeState, { maxLength: 4 }),
    userState: bytes(64),
  }),
) as fc.Arbitrary<Message>;

/** Drop optional fields that are undefined, as the decoder never sets them. */
function normalize(m: Message): Message {
  return Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)) as unknown as Message;
}

describe('properties', () => {
  it('every message round-trips through encodeMessage / decodeMessage', () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(decodeMessage(encodeMessage(m))).toEqual(normalize(m));
      }),
      { numRuns: 2000 },
    );
  });

  it('any set of messages survives encodePacket / decodePacket in every mode', () => {
    const keyring = new Keyring(new Uint8Array(16).fill(9));
    const udpMessage = message.filter((m) => m.type !== 'pushPull' && m.type !== 'err');
    fc.assert(
      fc.property(
        fc.array(udpMessage, { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom('', 'lbl'),
        (msgs, crc, compress, encrypt, label) => {
          const packets = encodePacket(msgs.map(encodeMessage), {
            crc,
            compress,
            label,
            keyring: encrypt ? keyring : undefined,
          });
          const out = packets.flatMap((p) => {
            const r = decodePacket(p, { label, keyring: encrypt ? keyring : undefined });
            if (!r.ok || r.dropped > 0) throw new Error(JSON.stringify(r));
            return r.messages;
          });
          expect(out).toEqual(msgs.map(normalize));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('fuzz: hostile bytes never throw, every drop is a known reason', () => {
  const keyring = new Keyring(new Uint8Array(32).fill(4));
  const reasons = new Set<string>(DROP_REASONS);
  const counts: Partial<Record<DropReason | 'ok' | 'incomplete', number>> = {};
  const count = (k: DropReason | 'ok' | 'incomplete') => {
    counts[k] = (counts[k] ?? 0) + 1;
  };

  // Valid seeds: our own encodings in every mode, and what a real Serf sent.
  const seedMessages = fc.sample(message, { numRuns: 60, seed: 7 });
  const plain = loadCapture('plaintext');
  const seeds: Uint8Array[] = [
    ...captured(plain, 'udp-in'),
    ...captured(plain, 'tcp-in'),
    ...captured(plain, 'tcp-out'),
    ...seedMessages.flatMap((m) => [
      encodeMessage(m),
      ...encodePacket([encodeMessage(m), encodeMessage(m)], { crc: true, compress: true }),
      encodeStream(m, { compress: true, label: 'lbl' }),
      encodeStream(m),
    ]),
  ];

  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: u8 }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      data: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
    fc.record({
      kind: fc.constant('interesting' as const),
      at: fc.nat(),
      value: fc.constantFrom(0x00, 0x7f, 0xc0, 0xc1, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xff),
    }),
  );
  type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

  function mutate(seed: Uint8Array, muts: Mutation[]): Uint8Array {
    let b = seed.slice();
    for (const m of muts) {
      if (b.length === 0) break;
      const at = m.at % b.length;
      if (m.kind === 'flip') b[at]! ^= 1 << m.bit;
      else if (m.kind === 'set' || m.kind === 'interesting') b[at] = m.value;
      else if (m.kind === 'cut') b = b.subarray(0, at);
      else {
        const n = new Uint8Array(b.length + m.data.length);
        n.set(b.subarray(0, at));
        n.set(m.data, at);
        n.set(b.subarray(at), at + m.data.length);
        b = n;
      }
    }
    return b;
  }

  // Plain checks rather than expect(): this runs over half a million times.
  function known(reason: string): void {
    if (!reasons.has(reason)) throw new Error(`unknown drop reason ${reason}`);
  }

  function check(buf: Uint8Array): void {
    for (const opts of [{}, { keyring, verifyIncoming: false }, { label: 'lbl' }]) {
      const r = decodePacket(buf, opts);
      if (r.ok) {
        count('ok');
        if (r.dropped !== r.dropReasons.length) throw new Error('dropped count does not match its reasons');
        for (const d of r.dropReasons) known(d);
      } else {
        count(r.reason);
        known(r.reason);
      }
    }
    for (const opts of [
      {},
      { keyring, verifyIncoming: false, label: 'lbl' },
      { readLabelHeader: false, maxPushStateBytes: 4096 },
    ]) {
      const s = tryDecodeStream(buf, opts);
      if (s.kind === 'error') {
        count(s.reason);
        known(s.reason);
      } else if (s.kind === 'message') {
        count('ok');
        if (s.consumed > buf.length) throw new Error('consumed more than it was given');
      } else count('incomplete');
    }
  }

  let inputs = 0;

  it('mutated valid packets and streams (plaintext, and re-encrypted so the inner parser is reached)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: seeds.length - 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (i, muts, wrap) => {
          let buf = mutate(seeds[i]!, muts);
          // Valid encryption around mutated content exercises everything after decryption.
          if (wrap && buf.length > 0) buf = encodePacket([buf], { crc: false, keyring })[0]!;
          inputs++;
          check(buf);
        },
      ),
      { numRuns: 62_000, seed: 20261127 },
    );
  }, 60_000);

  it('random bytes, random msgpack-ish prefixes', () => {
    const prefix = fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 244);
    fc.assert(
      fc.property(prefix, fc.uint8Array({ maxLength: 200 }), (p, rest) => {
        const buf = new Uint8Array(rest.length + 1);
        buf[0] = p;
        buf.set(rest, 1);
        inputs++;
        check(buf);
      }),
      { numRuns: 40_000, seed: 42 },
    );
    expect(inputs).toBeGreaterThanOrEqual(100_000);
    // The fuzzer reached past every layer, not just the first check.
    for (const k of [
      'ok',
      'incomplete',
      'malformed',
      'crc-mismatch',
      'decompress-failed',
      'too-large',
      'unknown-type',
    ] as const) {
      expect(counts[k] ?? 0, k).toBeGreaterThan(0);
    }
    // Every failure was counted under a known reason (the map keys are the only labels used).
    for (const k of Object.keys(counts)) expect(['ok', 'incomplete', ...DROP_REASONS]).toContain(k);
  }, 60_000);
});
