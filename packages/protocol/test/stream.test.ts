import { describe, expect, it } from 'vitest';
import {
  encodeMessage,
  encodeStream,
  Keyring,
  type Message,
  MessageType,
  type StreamDecodeOptions,
  type StreamEncodeOptions,
  tryDecodeStream,
} from '../src/index.ts';
import { captured, hex, loadCapture, unhex } from './helpers.ts';

const key = new Uint8Array(16).fill(3);
const pushPull: Message = {
  type: 'pushPull',
  join: true,
  nodes: [
    {
      name: 'a',
      addr: new Uint8Array([10, 0, 0, 1]),
      port: 7946,
      meta: new Uint8Array([255, 128]),
      incarnation: 1,
      state: 0,
      vsn: [1, 5, 2, 2, 5, 4],
    },
    {
      name: 'b',
      addr: new Uint8Array([10, 0, 0, 2]),
      port: 7946,
      meta: new Uint8Array(),
      incarnation: 9,
      state: 2,
      vsn: [1, 5, 2, 2, 5, 4],
    },
  ],
  userState: new Uint8Array([2, 0x80]),
};

/** Feeds the bytes one at a time: incomplete until the last byte, then the message. */
function feedByteByByte(bytes: Uint8Array, opts: StreamDecodeOptions) {
  for (let n = 0; n < bytes.length; n++) {
    const r = tryDecodeStream(bytes.subarray(0, n), opts);
    if (r.kind !== 'incomplete') throw new Error(`at ${n}/${bytes.length}: ${JSON.stringify(r)}`);
  }
  return tryDecodeStream(bytes, opts);
}

describe('stream framing', () => {
  const modes: [string, StreamEncodeOptions, StreamDecodeOptions][] = [
    ['plaintext', {}, {}],
    ['compressed', { compress: true }, {}],
    ['encrypted v1', { keyring: new Keyring(key) }, { keyring: new Keyring(key) }],
    [
      'encrypted v0 + compressed',
      { keyring: new Keyring(key), encryptionVersion: 0, compress: true },
      { keyring: new Keyring(key) },
    ],
    ['labeled + encrypted', { keyring: new Keyring(key), label: 'prod' }, { keyring: new Keyring(key), label: 'prod' }],
    ['labeled plaintext', { label: 'prod' }, { label: 'prod' }],
    [
      'reply without label header, label still authenticated',
      { keyring: new Keyring(key), label: 'prod', writeLabelHeader: false },
      { keyring: new Keyring(key), label: 'prod', readLabelHeader: false },
    ],
  ];
  const messages: Message[] = [
    pushPull,
    { type: 'pushPull', join: false, nodes: [], userState: new Uint8Array() },
    { type: 'ping', seqNo: 5, node: 'b' },
    { type: 'ack', seqNo: 5, payload: new Uint8Array() },
    { type: 'err', error: 'nope' },
    { type: 'user', payload: new Uint8Array([1, 2, 3, 4]) },
  ];

  for (const [name, enc, dec] of modes) {
    it(`${name}: every stream message decodes when fed byte by byte, consuming exactly its bytes`, () => {
      for (const m of messages) {
        const bytes = encodeStream(m, enc);
        const r = feedByteByByte(bytes, dec);
        expect(r).toEqual({ kind: 'message', message: m, consumed: bytes.length });
        // Bytes after the message (the peer's next write) are left alone.
        const more = new Uint8Array(bytes.length + 3);
        more.set(bytes);
        expect(tryDecodeStream(more, dec)).toMatchObject({ consumed: bytes.length });
      }
    });
  }

  it('plaintext push/pull is exactly encodeMessage (no length prefix, as memberlist)', () => {
    expect(encodeStream(pushPull)).toEqual(encodeMessage(pushPull));
  });

  it('stream user messages carry userMsgHeader{UserMsgLen}', () => {
    // 08 userMsg | 81 a a "UserMsgLen" 02 | 0102
    expect(hex(encodeStream({ type: 'user', payload: unhex('0102') }))).toBe('0881aa557365724d73674c656e020102');
  });

  it('encrypted framing: [10][uint32 length][payload], additional data = first 5 bytes + label', () => {
    const keyring = new Keyring(key);
    const bytes = encodeStream(
      { type: 'ping', seqNo: 1, node: 'a' },
      { keyring, label: 'L', randomBytes: () => new Uint8Array(12) },
    );
    expect(hex(bytes.subarray(0, 3))).toBe('f4014c');
    const body = bytes.subarray(3);
    expect(body[0]).toBe(MessageType.encrypt);
    const len = new DataView(body.buffer, body.byteOffset + 1, 4).getUint32(0);
    expect(len).toBe(body.length - 5);
    const aad = new Uint8Array([...body.subarray(0, 5), 0x4c]);
    expect(keyring.decrypt(body.subarray(5), aad)).toEqual(encodeMessage({ type: 'ping', seqNo: 1, node: 'a' }));
  });
});

describe('tryDecodeStream errors', () => {
  const keyring = new Keyring(key);

  it('label mismatch', () => {
    const bytes = encodeStream(pushPull, { label: 'a' });
    expect(tryDecodeStream(bytes, { label: 'b' })).toMatchObject({ kind: 'error', reason: 'label-mismatch' });
    expect(tryDecodeStream(bytes, {})).toMatchObject({ kind: 'error', reason: 'label-mismatch' });
    expect(tryDecodeStream(encodeStream(pushPull), { label: 'a' })).toMatchObject({
      kind: 'error',
      reason: 'label-mismatch',
    });
    expect(tryDecodeStream(unhex('f400'), {})).toMatchObject({ kind: 'error', reason: 'malformed' });
  });

  it('encryption required, wrong key, encrypted without a keyring', () => {
    expect(tryDecodeStream(encodeStream(pushPull), { keyring })).toMatchObject({
      kind: 'error',
      reason: 'unencrypted',
    });
    expect(tryDecodeStream(encodeStream(pushPull), { keyring, verifyIncoming: false })).toMatchObject({
      kind: 'message',
    });
    const other = encodeStream(pushPull, { keyring: new Keyring(new Uint8Array(16)) });
    expect(tryDecodeStream(other, { keyring })).toMatchObject({ kind: 'error', reason: 'decrypt-failed' });
    expect(tryDecodeStream(other, {})).toMatchObject({ kind: 'error', reason: 'decrypt-failed' });
  });

  it('size bounds: an encrypted length or a plaintext stream beyond maxPushStateBytes', () => {
    expect(tryDecodeStream(unhex('0a 7fffffff'), { keyring })).toMatchObject({ kind: 'error', reason: 'too-large' });
    const big: Message = { type: 'pushPull', join: false, nodes: [], userState: new Uint8Array(5000) };
    expect(tryDecodeStream(encodeStream(big), { maxPushStateBytes: 1000 })).toMatchObject({
      kind: 'error',
      reason: 'too-large',
    });
    // Still incomplete but already past the bound: refuse instead of buffering forever.
    const partial = encodeStream({
      type: 'pushPull',
      join: false,
      nodes: [],
      userState: new Uint8Array(3000),
    }).subarray(0, 2000);
    expect(tryDecodeStream(partial, { maxPushStateBytes: 4000 })).toMatchObject({ kind: 'incomplete' });
    expect(tryDecodeStream(partial, { maxPushStateBytes: 1000 })).toMatchObject({ kind: 'error', reason: 'too-large' });
    expect(
      tryDecodeStream(encodeStream({ type: 'user', payload: new Uint8Array(50) }), { maxPushStateBytes: 10 }),
    ).toMatchObject({
      kind: 'error',
      reason: 'too-large',
    });
  });

  it('types that do not belong on a stream, unknown types, corrupt content inside a complete frame', () => {
    expect(tryDecodeStream(encodeMessage({ type: 'nack', seqNo: 1 }))).toMatchObject({
      kind: 'error',
      reason: 'unexpected-type',
    });
    expect(tryDecodeStream(unhex('63'))).toMatchObject({ kind: 'error', reason: 'unknown-type' });
    // A compressed frame whose content is a truncated push/pull: the sender lied, not "wait".
    const cut = encodeStream({ type: 'ping', seqNo: 1, node: 'a' }, { compress: true });
    expect(tryDecodeStream(cut)).toMatchObject({ kind: 'message' });
    const truncatedInside = encodeStream({ type: 'user', payload: new Uint8Array(8) }, { compress: true, keyring });
    expect(tryDecodeStream(truncatedInside, { keyring })).toMatchObject({ kind: 'message' });
  });
});

describe('streams from a real Serf 0.9.4', () => {
  for (const name of ['plaintext', 'encrypted'] as const) {
    it(`${name}: Serf's compressed push/pull reply and TCP ping ack decode, fed byte by byte`, () => {
      const c = loadCapture(name);
      const keyring = c.key ? new Keyring(new Uint8Array(Buffer.from(c.key, 'base64'))) : undefined;
      const [pushPullReply, ackReply] = captured(c, 'tcp-in');
      const r = feedByteByByte(pushPullReply!, { keyring, readLabelHeader: false });
      expect(r).toMatchObject({
        kind: 'message',
        consumed: pushPullReply!.length,
        message: { type: 'pushPull', join: true },
      });
      const msg = (r as { message: Message }).message as Extract<Message, { type: 'pushPull' }>;
      expect(msg.nodes).toMatchObject([{ name: 'serf1', port: 17946, state: 0, vsn: [1, 5, 2, 2, 5, 5] }]);
      expect(msg.userState[0]).toBe(2); // Serf's messagePushPullType
      expect(tryDecodeStream(ackReply!, { keyring, readLabelHeader: false })).toMatchObject({
        kind: 'message',
        message: { type: 'ack', seqNo: 78 },
      });
      // And what we sent, which Serf accepted, decodes on our accepting side too.
      const [ourPushPull, ourPing] = captured(c, 'tcp-out');
      expect(tryDecodeStream(ourPushPull!, { keyring })).toMatchObject({
        kind: 'message',
        message: { type: 'pushPull' },
      });
      expect(tryDecodeStream(ourPing!, { keyring })).toMatchObject({
        kind: 'message',
        message: { type: 'ping', seqNo: 78 },
      });
    });
  }
});
