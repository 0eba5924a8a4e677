import { describe, expect, it } from 'vitest';
import {
  DecodeError,
  decodePacket,
  decodeSerfMessage,
  type EncodableSerfMessage,
  encodeSerfMessage,
  type Message,
  SerfMessageType,
  tryDecodeStream,
} from '../src/index.ts';
import { captured, hex, loadCapture, unhex } from './helpers.ts';

const capture = loadCapture('plaintext');
const userPayloads = [
  ...new Set(
    captured(capture, 'udp-in')
      .map((p) => decodePacket(p))
      .flatMap((r) => (r.ok ? r.messages : []))
      .filter((m): m is Extract<Message, { type: 'user' }> => m.type === 'user')
      .map((m) => hex(m.payload)),
  ),
].map(unhex);

describe('Serf messages a real Serf 0.9.4 gossiped', () => {
  it('leave intent, user event and query decode, and re-encode byte for byte', () => {
    const decoded = userPayloads.map(decodeSerfMessage);
    expect(decoded.map((m) => m.type).sort()).toEqual(['leave', 'query', 'userEvent']);
    expect(decoded.find((m) => m.type === 'leave')).toEqual({ type: 'leave', ltime: 2, node: 'serf1', prune: false });
    expect(decoded.find((m) => m.type === 'userEvent')).toEqual({
      type: 'userEvent',
      ltime: 1,
      name: 'deploy',
      payload: new TextEncoder().encode('v1'),
      cc: true,
    });
    expect(decoded.find((m) => m.type === 'query')).toMatchObject({
      type: 'query',
      ltime: 1,
      addr: new Uint8Array([127, 0, 0, 1]),
      port: 17946,
      sourceNode: 'serf1',
      filters: [],
      flags: 1, // queryFlagAck
      relayFactor: 0,
      timeoutNs: 1_000_000_000,
      name: 'uptime',
    });
    userPayloads.forEach((p, i) => {
      expect(hex(encodeSerfMessage(decoded[i] as EncodableSerfMessage))).toBe(hex(p));
    });
  });

  it("Serf's push/pull state: clocks, status times, and a 512-slot event ring of nils", () => {
    const [reply] = captured(capture, 'tcp-in');
    const r = tryDecodeStream(reply!, { readLabelHeader: false });
    const userState = (r as { message: Extract<Message, { type: 'pushPull' }> }).message.userState;
    expect(hex(userState)).toContain('dc0200c0c0c0');
    expect(decodeSerfMessage(userState)).toEqual({
      type: 'pushPull',
      ltime: 1,
      statusLTimes: new Map([['serf1', 0]]),
      leftMembers: [],
      eventLTime: 1,
      events: [],
      queryLTime: 1,
    });
  });
});

describe('encodeSerfMessage / decodeSerfMessage', () => {
  it('join golden: [1] {LTime, Node}', () => {
    // 01 messageJoinType | 82 | a5 "LTime" cd 012c | a4 "Node" a1 "n"
    expect(hex(encodeSerfMessage({ type: 'join', ltime: 300, node: 'n' }))).toBe(
      '0182a54c54696d65cd012ca44e6f6465a16e',
    );
  });

  it('round-trips every encodable message', () => {
    const all: EncodableSerfMessage[] = [
      { type: 'join', ltime: 2 ** 40, node: 'a' },
      { type: 'leave', ltime: 7, node: 'b', prune: true },
      {
        type: 'pushPull',
        ltime: 10,
        statusLTimes: new Map([
          ['a', 1],
          ['b', 9],
        ]),
        leftMembers: ['c'],
        eventLTime: 4,
        events: [{ ltime: 3, events: [{ name: 'deploy', payload: new Uint8Array([1]) }] }],
        queryLTime: 5,
      },
      { type: 'userEvent', ltime: 1, name: 'e', payload: new Uint8Array(), cc: false },
      {
        type: 'query',
        ltime: 1,
        id: 99,
        addr: new Uint8Array(16),
        port: 1,
        sourceNode: 's',
        filters: [new Uint8Array([0, 0x91, 0xa1, 0x61])],
        flags: 3,
        relayFactor: 2,
        timeoutNs: 5e9,
        name: '_serf_ping',
        payload: new Uint8Array(),
      },
      { type: 'queryResponse', ltime: 1, id: 99, from: 'me', flags: 1, payload: new Uint8Array([1, 2]) },
    ];
    for (const m of all) expect(decodeSerfMessage(encodeSerfMessage(m))).toEqual(m);
  });

  it('decodes a relay (Serf forwarding a query response) and leaves its inner message raw', () => {
    const inner = encodeSerfMessage({
      type: 'queryResponse',
      ltime: 1,
      id: 2,
      from: 'x',
      flags: 0,
      payload: new Uint8Array(),
    });
    const relay = unhex(`
      09                                                         # messageRelayType
      82 a8 4465737441646472                                     # relayHeader, "DestAddr": a net.UDPAddr struct
         83 a2 4950 a4 0a000001 a4 506f7274 cd 1f0a a4 5a6f6e65 a0 #   IP, Port 7946, Zone ""
      a8 446573744e616d65 a1 62                                  # "DestName": "b"
    `);
    const full = new Uint8Array(relay.length + inner.length);
    full.set(relay);
    full.set(inner, relay.length);
    expect(decodeSerfMessage(full)).toEqual({
      type: 'relay',
      destAddr: new Uint8Array([10, 0, 0, 1]),
      destPort: 7946,
      destName: 'b',
      message: inner,
    });
  });

  it('ignores types it does not act on, and is lenient with bad event entries', () => {
    for (const t of [SerfMessageType.conflictResponse, SerfMessageType.keyRequest, SerfMessageType.keyResponse, 42]) {
      expect(decodeSerfMessage(new Uint8Array([t, 0x80]))).toEqual({ type: 'other', code: t });
    }
    // Events: [nil, 5, {LTime: 1, Events: []}] -> the bad entry is skipped
    const pp = unhex('02 81 a6 4576656e7473 93 c0 05 82 a5 4c54696d65 01 a6 4576656e7473 90');
    expect(decodeSerfMessage(pp)).toMatchObject({ type: 'pushPull', events: [{ ltime: 1, events: [] }] });
  });

  it('throws DecodeError on malformed bodies', () => {
    for (const bad of ['', '01', '01 91 01', '01 81 a5 4c54696d65 a1 78', '02 81 ac 5374617475734c54696d6573 01']) {
      expect(() => decodeSerfMessage(unhex(bad)), bad).toThrow(DecodeError);
    }
  });
});
