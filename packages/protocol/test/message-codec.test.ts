import { describe, expect, it } from 'vitest';
import { DecodeError, decodeMessage, EncodeError, encodeMessage, type Message, MessageType } from '../src/index.ts';
import { decodeCompound } from '../src/memberlist/compound.ts';
import { decompressBody } from '../src/memberlist/compress.ts';
import { checkCrcHeader } from '../src/memberlist/crc.ts';
import { ascii, captured, hex, loadCapture, unhex } from './helpers.ts';

/** Leaf messages inside a plaintext packet: peel CRC, compound and compress like ingestPacket. */
function leaves(buf: Uint8Array): Uint8Array[] {
  if (buf[0] === MessageType.hasCrc) return leaves(checkCrcHeader(buf)!);
  if (buf[0] === MessageType.compound) return decodeCompound(buf.subarray(1)).parts.flatMap(leaves);
  if (buf[0] === MessageType.compress) return leaves(decompressBody(buf, 1, 1 << 20).payload);
  return [buf];
}

describe('encodeMessage: golden bytes derived from memberlist net.go and go-msgpack 0.5', () => {
  it('ping{SeqNo: 1, Node: "a"} with no source fields (omitempty)', () => {
    // 00 pingMsg | 82 fixmap, 2 fields (SourceAddr/Port/Node omitted: empty + omitempty)
    // a4 "Node" a1 "a" | a5 "SeqNo" 01  -- fields in name order, as go-msgpack 0.5 writes structs
    expect(hex(encodeMessage({ type: 'ping', seqNo: 1, node: 'a' }))).toBe('0082a44e6f6465a161a55365714e6f01');
  });

  it('alive with Vsn as a raw byte string and a nil Meta', () => {
    const bytes = encodeMessage({
      type: 'alive',
      incarnation: 1,
      node: 'n',
      addr: new Uint8Array([127, 0, 0, 1]),
      port: 7946,
      meta: new Uint8Array(0),
      vsn: [1, 5, 2, 2, 5, 4],
    });
    const want = unhex(`
      04                                   # aliveMsg
      86                                   # 6 fields
      a4 41646472 a4 7f000001              # Addr: []byte{127,0,0,1} as raw
      ab 496e6361726e6174696f6e 01         # Incarnation: 1
      a4 4d657461 c0                       # Meta: nil slice -> nil
      a4 4e6f6465 a1 6e                    # Node: "n"
      a4 506f7274 cd 1f0a                  # Port: 7946 (uint16 -> cd)
      a3 56736e a6 010502020504            # Vsn: []uint8 -> raw of 6 bytes, not an array
    `);
    expect(hex(bytes)).toBe(hex(want));
  });

  it('nack, err and suspect', () => {
    // 0b nackRespMsg | 81 | a5 "SeqNo" cd 012c (300 as uint16)
    expect(hex(encodeMessage({ type: 'nack', seqNo: 300 }))).toBe('0b81a55365714e6fcd012c');
    // 0d errMsg | 81 | a5 "Error" a3 "bad"
    expect(hex(encodeMessage({ type: 'err', error: 'bad' }))).toBe('0d81a54572726f72a3626164');
    // 03 suspectMsg | 83 | From, Incarnation (ce: 2^31 needs uint32), Node
    expect(hex(encodeMessage({ type: 'suspect', incarnation: 2 ** 31, node: 'b', from: 'a' }))).toBe(
      '0383a446726f6da161ab496e6361726e6174696f6ece80000000a44e6f6465a162',
    );
  });

  it('user message on a packet is the type byte and the bytes, no msgpack', () => {
    expect(hex(encodeMessage({ type: 'user', payload: unhex('0102') }))).toBe('080102');
  });

  it('push/pull: type, header {Join, Nodes, UserStateLen}, each node, then the raw user state', () => {
    const bytes = encodeMessage({
      type: 'pushPull',
      join: true,
      nodes: [
        {
          name: 'x',
          addr: new Uint8Array([10, 0, 0, 1]),
          port: 1,
          meta: new Uint8Array(0),
          incarnation: 2,
          state: 3,
          vsn: [1, 5, 2, 2, 5, 4],
        },
      ],
      userState: unhex('abcd'),
    });
    const want = unhex(`
      06                                           # pushPullMsg
      83 a4 4a6f696e c3 a5 4e6f646573 01 ac 5573657253746174654c656e 02   # Join, Nodes: 1, UserStateLen: 2
      87 a4 41646472 a4 0a000001                   # pushNodeState: Addr
         ab 496e6361726e6174696f6e 02               # Incarnation
         a4 4d657461 c0                             # Meta (nil)
         a4 4e616d65 a1 78                          # Name "x"
         a4 506f7274 01                             # Port 1
         a5 5374617465 03                           # State 3 (left)
         a3 56736e a6 010502020504                  # Vsn
      abcd                                         # user state, no framing
    `);
    expect(hex(bytes)).toBe(hex(want));
  });

  it('refuses values that do not fit their Go type', () => {
    expect(() => encodeMessage({ type: 'nack', seqNo: 2 ** 32 })).toThrow(EncodeError);
    expect(() => encodeMessage({ type: 'ping', seqNo: 1, node: 'a', sourcePort: 70000 })).toThrow(EncodeError);
    expect(() =>
      encodeMessage({
        type: 'alive',
        incarnation: 0,
        node: '',
        addr: new Uint8Array(),
        port: 0,
        meta: new Uint8Array(),
        vsn: [256],
      }),
    ).toThrow(EncodeError);
  });
});

describe('bytes a real Serf 0.9.4 sent: we decode them and re-encode them identically', () => {
  const capture = loadCapture('plaintext');
  const packets = captured(capture, 'udp-in');

  it('every leaf message Serf sent round-trips byte for byte (ping, alive, dead, ack, user)', () => {
    const seen = new Set<string>();
    for (const p of packets) {
      for (const leaf of leaves(p)) {
        const msg = decodeMessage(leaf);
        seen.add(msg.type);
        expect(hex(encodeMessage(msg))).toBe(hex(leaf));
      }
    }
    expect([...seen].sort()).toEqual(['ack', 'alive', 'dead', 'ping', 'user']);
  });

  it("Serf's probe: ping with its source address, port and name", () => {
    const ping = packets.flatMap(leaves).find((l) => l[0] === MessageType.ping)!;
    expect(decodeMessage(ping)).toEqual({
      type: 'ping',
      seqNo: 1,
      node: 'vigil1',
      sourceAddr: new Uint8Array([127, 0, 0, 1]),
      sourcePort: 17946,
      sourceNode: 'serf1',
    });
  });

  it("Serf's ack carries its Vivaldi coordinate as an opaque payload", () => {
    const ack = packets.flatMap(leaves).find((l) => l[0] === MessageType.ack)!;
    const msg = decodeMessage(ack);
    expect(msg).toMatchObject({ type: 'ack', seqNo: 77 });
    expect((msg as { payload: Uint8Array }).payload[0]).toBe(1); // Serf's PingVersion byte
  });
});

describe('decodeMessage', () => {
  const all: Message[] = [
    { type: 'ping', seqNo: 7, node: 'n', sourceAddr: new Uint8Array([1, 2, 3, 4]), sourcePort: 9, sourceNode: 's' },
    { type: 'ping', seqNo: 0, node: '' },
    {
      type: 'indirectPing',
      seqNo: 4294967295,
      target: new Uint8Array(16).fill(0xfe),
      port: 65535,
      node: 'ünïcode',
      nack: true,
      sourceAddr: new Uint8Array([9, 9, 9, 9]),
      sourcePort: 1,
      sourceNode: 'me',
    },
    { type: 'indirectPing', seqNo: 1, target: new Uint8Array([1, 1, 1, 1]), port: 1, node: 'x', nack: false },
    { type: 'ack', seqNo: 3, payload: new Uint8Array(200).fill(7) },
    { type: 'ack', seqNo: 3, payload: new Uint8Array(0) },
    { type: 'nack', seqNo: 99 },
    { type: 'suspect', incarnation: 5, node: 'a', from: 'b' },
    { type: 'dead', incarnation: 5, node: 'a', from: 'a' },
    {
      type: 'alive',
      incarnation: 1,
      node: 'n',
      addr: new Uint8Array([1, 2, 3, 4]),
      port: 7946,
      meta: ascii('m'),
      vsn: [1, 5, 2, 2, 5, 4],
    },
    {
      type: 'pushPull',
      join: false,
      nodes: Array.from({ length: 20 }, (_, i) => ({
        name: `node-${i}`,
        addr: new Uint8Array([10, 0, 0, i]),
        port: 7946,
        meta: new Uint8Array(40).fill(i),
        incarnation: i,
        state: (i % 4) as 0 | 1 | 2 | 3,
        vsn: [1, 5, 2, 2, 5, 4],
      })),
      userState: new Uint8Array(70000).fill(1),
    },
    { type: 'user', payload: new Uint8Array([3, 2, 1]) },
    { type: 'err', error: 'x'.repeat(300) },
  ];

  it('round-trips every message type', () => {
    for (const m of all) expect(decodeMessage(encodeMessage(m))).toEqual(m);
  });

  it('reads like Go: unknown fields ignored, missing fields zero, nil is zero, []byte also from an array', () => {
    // 04 alive | 83 | "Extra" 01 | "Node" a1 "n" | "Vsn" as an array of ints
    const m = decodeMessage(unhex('04 83 a5 4578747261 01 a4 4e6f6465 a1 6e a3 56736e 96 01 05 02 02 05 04'));
    expect(m).toEqual({
      type: 'alive',
      incarnation: 0,
      node: 'n',
      addr: new Uint8Array(),
      port: 0,
      meta: new Uint8Array(),
      vsn: [1, 5, 2, 2, 5, 4],
    });
    // ping whose SourceAddr is nil and SeqNo arrives as a signed int16 (how go-msgpack v2 writes ints)
    expect(decodeMessage(unhex('00 82 a5 5365714e6f d1 012c aa 536f7572636541646472 c0'))).toEqual({
      type: 'ping',
      seqNo: 300,
      node: '',
    });
  });

  it('keeps byte fields as bytes even when they are not UTF-8', () => {
    const m = decodeMessage(unhex('02 82 a5 5365714e6f 01 a7 5061796c6f6164 a2 fffe'));
    expect(hex((m as { payload: Uint8Array }).payload)).toBe('fffe');
  });

  it('throws only typed DecodeErrors on bad input', () => {
    const bad: [string, string][] = [
      ['', 'truncated'],
      ['63', 'unknown-type'],
      ['07 00', 'unknown-type'], // a compound is not a leaf message
      ['00 81 a5 5365714e6f ff', 'malformed'], // negative SeqNo
      ['00 81 a5 5365714e6f cf0000000100000000', 'too-large'], // SeqNo overflows uint32
      ['04 81 a4 506f7274 ce00010000', 'too-large'], // Port overflows uint16
      ['00 81 a4 4e6f6465 01', 'malformed'], // Node is not a string
      ['00 91 01', 'malformed'], // body is not a map
      ['01 81 a4 4e61636b 01', 'malformed'], // Nack is not a bool
      ['00 82 a4 4e6f6465', 'truncated'],
      ['06 83 a5 4e6f646573 05 ac 5573657253746174654c656e 00 a4 4a6f696e c2', 'truncated'], // 5 nodes promised, none sent
      ['06 81 ac 5573657253746174654c656e 0a 0102', 'truncated'], // 10 bytes of user state promised
      ['06 81 a5 4e6f646573 ff', 'malformed'], // negative node count
    ];
    for (const [bytes, code] of bad) {
      let err: unknown;
      try {
        decodeMessage(unhex(bytes));
      } catch (e) {
        err = e;
      }
      expect(err, bytes).toBeInstanceOf(DecodeError);
      expect((err as DecodeError).code, bytes).toBe(code);
    }
  });

  it('bounds push/pull node count and user state size', () => {
    const m: Message = { type: 'pushPull', join: false, nodes: [], userState: new Uint8Array(100) };
    expect(() => decodeMessage(encodeMessage(m), { maxPushStateBytes: 99 })).toThrow(
      expect.objectContaining({ code: 'too-large' }),
    );
    const header = unhex('06 81 a5 4e6f646573 ce 00200000'); // 2^21 nodes
    expect(() => decodeMessage(header)).toThrow(expect.objectContaining({ code: 'too-large' }));
  });
});
