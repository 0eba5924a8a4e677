import { describe, expect, it } from 'vitest';
import {
  decodePacket,
  encodeMessage,
  encodePacket,
  Keyring,
  type Message,
  MessageType,
  packetPayloadBudget,
} from '../src/index.ts';
import { encodeCompound } from '../src/memberlist/compound.ts';
import { addCrcHeader } from '../src/memberlist/crc.ts';
import { captured, hex, loadCapture, unhex } from './helpers.ts';

const key = new Uint8Array(32).fill(7);
const fixedNonce = () => new Uint8Array(12).fill(1);
const ping: Message = { type: 'ping', seqNo: 1, node: 'a' };
const alive: Message = {
  type: 'alive',
  incarnation: 3,
  node: 'node-with-a-longish-name',
  addr: new Uint8Array([10, 1, 2, 3]),
  port: 7946,
  meta: new Uint8Array(100).fill(0x61),
  vsn: [1, 5, 2, 2, 5, 4],
};

describe('encodePacket', () => {
  it('a single part is sent bare; several become a compound [7][n][uint16 lengths][parts]', () => {
    const p = encodeMessage(ping);
    expect(encodePacket([p], { crc: false })).toEqual([p]);
    const [c] = encodePacket([p, unhex('0801')], { crc: false });
    // 07 compound | 02 parts | 0010 (16 bytes) | 0002 | ping | 08 01
    expect(hex(c!)).toBe(`070200100002${hex(p)}0801`);
  });

  it('CRC header: [12][crc32 IEEE of the rest, big endian][rest]', () => {
    const [c] = encodePacket([unhex('0801')], { crc: true });
    // crc32("\x08\x01") = 0xfe07a861, computed independently with python3 zlib.crc32(b"\x08\x01")
    expect(hex(c!)).toBe('0cfe07a8610801');
  });

  it('label header [244][len][label] goes in front of everything', () => {
    const [c] = encodePacket([unhex('0801')], { crc: false, label: 'prod' });
    expect(hex(c!)).toBe('f404' + '70726f64' + '0801');
  });

  it('splits into packets that each fit maxPacketBytes, with all overheads counted', () => {
    const parts = Array.from({ length: 40 }, (_, i) => encodeMessage({ ...alive, incarnation: i } as Message));
    const keyring = new Keyring(key);
    const packets = encodePacket(parts, { crc: true, keyring, label: 'lbl', maxPacketBytes: 1400 });
    expect(packets.length).toBeGreaterThan(3);
    for (const p of packets) expect(p.length).toBeLessThanOrEqual(1400);
    const out = packets.flatMap((p) => {
      const r = decodePacket(p, { keyring, label: 'lbl' });
      if (!r.ok) throw new Error(r.reason);
      return r.messages;
    });
    expect(out.map((m) => (m as { incarnation: number }).incarnation)).toEqual(parts.map((_, i) => i));
  });

  it('never puts more than 255 parts in a compound', () => {
    const parts = Array.from({ length: 600 }, () => unhex('0b81a55365714e6f01'));
    const packets = encodePacket(parts, { crc: false, maxPacketBytes: 1 << 16 });
    expect(packets.map((p) => p[1])).toEqual([255, 255, 90]);
  });

  it('an oversized part still goes out, alone', () => {
    const big = encodeMessage({ type: 'user', payload: new Uint8Array(3000) });
    const packets = encodePacket([unhex('0801'), big, unhex('0802')], { crc: false });
    expect(packets.map((p) => p.length)).toEqual([2, 3001, 2]);
  });

  it('compresses only when that makes the packet smaller', () => {
    const small = encodePacket([encodeMessage(ping)], { crc: false, compress: true });
    expect(small[0]![0]).toBe(MessageType.ping);
    const redundant = encodePacket([encodeMessage(alive), encodeMessage(alive)], { crc: true, compress: true });
    expect(redundant[0]![0]).toBe(MessageType.hasCrc);
    expect(redundant[0]![5]).toBe(MessageType.compress);
    const r = decodePacket(redundant[0]!);
    expect(r.ok && r.messages).toEqual([alive, alive]);
  });

  it('encrypts after CRC with the label as additional data (version 1 by default, 0 on request)', () => {
    const keyring = new Keyring(key);
    for (const encryptionVersion of [0, 1] as const) {
      const [p] = encodePacket([encodeMessage(ping)], {
        crc: true,
        keyring,
        label: 'x',
        encryptionVersion,
        randomBytes: fixedNonce,
      });
      expect(hex(p!.subarray(0, 3))).toBe('f40178');
      expect(p![3]).toBe(encryptionVersion);
      const plain = keyring.decrypt(p!.subarray(3), new TextEncoder().encode('x'))!;
      expect(plain[0]).toBe(MessageType.hasCrc);
      expect(decodePacket(p!, { keyring, label: 'x' })).toMatchObject({ ok: true, messages: [ping] });
    }
  });
});

describe('decodePacket drops with a reason', () => {
  const keyring = new Keyring(key);
  const plain = encodeMessage(ping);

  it('label mismatch, whichever side has one', () => {
    const labeled = encodePacket([plain], { crc: false, label: 'a' })[0]!;
    expect(decodePacket(labeled, { label: 'b' })).toMatchObject({ ok: false, reason: 'label-mismatch' });
    expect(decodePacket(labeled)).toMatchObject({ ok: false, reason: 'label-mismatch' });
    expect(decodePacket(plain, { label: 'a' })).toMatchObject({ ok: false, reason: 'label-mismatch' });
    expect(decodePacket(labeled, { label: 'a' })).toMatchObject({ ok: true, messages: [ping] });
    expect(decodePacket(unhex('f400'), {})).toMatchObject({ ok: false, reason: 'malformed' });
    expect(decodePacket(unhex('f405616263'), {})).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('a label stripped or swapped in an encrypted packet fails authentication', () => {
    const p = encodePacket([plain], { crc: true, keyring, label: 'a' })[0]!;
    expect(decodePacket(p.subarray(3), { keyring })).toMatchObject({ ok: false, reason: 'decrypt-failed' });
    const swapped = new Uint8Array(p);
    swapped[2] = 0x62; // 'b'
    expect(decodePacket(swapped, { keyring, label: 'b' })).toMatchObject({ ok: false, reason: 'decrypt-failed' });
  });

  it('decrypt failure, and plaintext accepted only when verifyIncoming is off', () => {
    const other = encodePacket([plain], { crc: false, keyring: new Keyring(new Uint8Array(16)) })[0]!;
    expect(decodePacket(other, { keyring })).toMatchObject({ ok: false, reason: 'decrypt-failed' });
    expect(decodePacket(plain, { keyring })).toMatchObject({ ok: false, reason: 'decrypt-failed' });
    expect(decodePacket(plain, { keyring, verifyIncoming: false })).toMatchObject({ ok: true, messages: [ping] });
  });

  it('CRC mismatch', () => {
    const p = addCrcHeader(plain);
    p[p.length - 1]! ^= 0xff;
    expect(decodePacket(p)).toMatchObject({ ok: false, reason: 'crc-mismatch' });
    const badSum = addCrcHeader(plain);
    badSum[1]! ^= 1;
    expect(decodePacket(badSum)).toMatchObject({ ok: false, reason: 'crc-mismatch' });
  });

  it('a compound with a bad part yields the good parts and counts the bad one', () => {
    const c = encodeCompound([
      plain,
      unhex('00 81 a4 4e6f6465 01'),
      unhex('63'),
      encodeMessage({ type: 'nack', seqNo: 2 }),
    ]);
    const r = decodePacket(c);
    expect(r).toMatchObject({ ok: true, messages: [ping, { type: 'nack', seqNo: 2 }], dropped: 2 });
    expect(r.ok && r.dropReasons).toEqual(['malformed', 'unknown-type']);
  });

  it('compound parts that run past the end are counted as dropped (memberlist: truncated)', () => {
    const c = encodeCompound([plain, plain]);
    const r = decodePacket(c.subarray(0, c.length - 3));
    expect(r).toMatchObject({ ok: true, messages: [ping], dropped: 1 });
    expect(decodePacket(unhex('07 05 0001'))).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('types that do not belong in a packet, unknown types, empty packets', () => {
    const pushPull = encodeMessage({ type: 'pushPull', join: false, nodes: [], userState: new Uint8Array() });
    expect(decodePacket(pushPull)).toMatchObject({ ok: false, reason: 'unexpected-type' });
    expect(decodePacket(unhex('0d80'))).toMatchObject({ ok: false, reason: 'unexpected-type' });
    expect(decodePacket(unhex('2a'))).toMatchObject({ ok: false, reason: 'unknown-type' });
    expect(decodePacket(new Uint8Array())).toMatchObject({ ok: false, reason: 'empty' });
  });

  it('bad compression: unknown algorithm, corrupt data, decompression bomb', () => {
    expect(decodePacket(unhex('09 82 a4 416c676f 01 a3 427566 a0'))).toMatchObject({
      ok: false,
      reason: 'decompress-failed',
    });
    expect(decodePacket(unhex('09 82 a4 416c676f 00 a3 427566 a2 00ff'))).toMatchObject({
      ok: false,
      reason: 'decompress-failed',
    });
    const bomb = encodePacket([encodeMessage({ type: 'user', payload: new Uint8Array(60000) })], {
      crc: false,
      compress: true,
      maxPacketBytes: 1 << 17,
    })[0]!;
    expect(bomb.length).toBeLessThan(1400);
    expect(decodePacket(bomb, { maxDecompressedBytes: 10_000 })).toMatchObject({ ok: false, reason: 'too-large' });
  });

  it('containers nested beyond four levels are refused', () => {
    let p = plain;
    for (let i = 0; i < 5; i++) p = encodeCompound([p]);
    expect(decodePacket(p)).toMatchObject({ ok: true, messages: [], dropped: 1, dropReasons: ['too-large'] });
  });
});

describe('packets a real Serf 0.9.4 sent', () => {
  it('plaintext: CRC, compound and compressed packets all decode', () => {
    const c = loadCapture('plaintext');
    const types = new Set<string>();
    for (const p of captured(c, 'udp-in')) {
      const r = decodePacket(p);
      expect(r.ok, hex(p)).toBe(true);
      if (r.ok) {
        expect(r.dropped).toBe(0);
        for (const m of r.messages) types.add(m.type);
      }
    }
    expect([...types].sort()).toEqual(['ack', 'alive', 'dead', 'ping', 'user']);
  });

  it('encrypted: every packet decrypts with the cluster key and nothing else', () => {
    const c = loadCapture('encrypted');
    const keyring = new Keyring(new Uint8Array(Buffer.from(c.key!, 'base64')));
    for (const p of captured(c, 'udp-in')) {
      expect(decodePacket(p, { keyring }).ok).toBe(true);
      expect(decodePacket(p, { keyring: new Keyring(key) })).toMatchObject({ ok: false, reason: 'decrypt-failed' });
    }
  });

  it('our ping packet that Serf answered (so Go accepted our CRC and encryption)', () => {
    const c = loadCapture('encrypted');
    const keyring = new Keyring(new Uint8Array(Buffer.from(c.key!, 'base64')));
    const [ours] = captured(c, 'udp-out');
    expect(decodePacket(ours!, { keyring })).toMatchObject({
      ok: true,
      messages: [{ type: 'ping', seqNo: 77, node: 'serf1' }],
    });
    const acks = captured(c, 'udp-in')
      .map((p) => decodePacket(p, { keyring }))
      .flatMap((r) => (r.ok ? r.messages : []))
      .filter((m) => m.type === 'ack');
    expect(acks).toMatchObject([{ seqNo: 77 }]);
  });
});

describe('packetPayloadBudget', () => {
  it('takes label, encryption and CRC overheads off maxPacketBytes', () => {
    const keyring = new Keyring(key);
    expect(packetPayloadBudget({ crc: false })).toBe(1400);
    // 1400 - (2 + 4) label - 29 (GCM v1) - 5 CRC
    expect(packetPayloadBudget({ crc: true, keyring, label: 'prod' })).toBe(1360);
    expect(packetPayloadBudget({ crc: true, keyring, encryptionVersion: 0, maxPacketBytes: 500 })).toBe(450);
  });
});
