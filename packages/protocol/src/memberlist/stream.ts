// The TCP side (net.go rawSendMsgStream / readStream): push/pull, the fallback ping and its ack,
// errResp and stream user messages. The dialer writes the label header once at the start of the
// stream; the answer comes back without one but is still authenticated with the label.
//   plaintext:  [label?][type][body]                 (no length prefix: decode incrementally)
//   compressed: [label?][9][compress{Algo, Buf: lzw([type][body])}]
//   encrypted:  [label?][10][uint32 BE length][version|nonce|ciphertext|tag]
//               with additional data = the 5 bytes before the payload + the label

import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { compressPayload, decompressBody } from './compress.ts';
import { DecodeError } from './decode-error.ts';
import { DropError, type DropReason, dropReasonOf } from './drop-reason.ts';
import { type EncryptionVersion, encryptedLength, type Keyring } from './keyring.ts';
import { addLabelHeader, removeLabelHeader } from './label.ts';
import {
  decodeMessageAt,
  decodePushPullBody,
  decodeUserMsgHeader,
  encodeMessage,
  MAX_PUSH_STATE_BYTES,
  type PushPullLimits,
  writeUserMsgHeader,
} from './message-codec.ts';
import { HAS_LABEL, type Message, MessageType } from './messages.ts';
import { GoMsgpackWriter, stringToBytes } from './msgpack-go.ts';

export interface StreamEncodeOptions {
  readonly keyring?: Keyring | undefined;
  readonly encryptionVersion?: EncryptionVersion | undefined;
  /** Our cluster label: authenticated when encrypting, and sent as a header if `writeLabelHeader`. */
  readonly label?: string | undefined;
  /** True for the side that opened the stream (memberlist writes the header on dial only). Default true. */
  readonly writeLabelHeader?: boolean | undefined;
  /** memberlist compresses every stream message when compression is on, whatever the gain. */
  readonly compress?: boolean | undefined;
  readonly randomBytes?: ((n: number) => Uint8Array) | undefined;
}

/** Encodes one stream message. `user` messages get memberlist's userMsgHeader framing. */
export function encodeStream(message: Message, opts: StreamEncodeOptions = {}): Uint8Array {
  const label = opts.label ?? '';
  let buf: Uint8Array;
  if (message.type === 'user') {
    const w = new GoMsgpackWriter(message.payload.length + 16);
    w.byte(MessageType.user);
    writeUserMsgHeader(w, message.payload.length);
    w.bytes(message.payload);
    buf = w.finish();
  } else {
    buf = encodeMessage(message);
  }
  if (opts.compress) buf = compressPayload(buf);
  if (opts.keyring !== undefined) {
    const version = opts.encryptionVersion ?? 1;
    const head = new Uint8Array(5);
    head[0] = MessageType.encrypt;
    new DataView(head.buffer).setUint32(1, encryptedLength(version, buf.length));
    const nonce = (opts.randomBytes ?? nodeRandomBytes)(12);
    const sealed = opts.keyring.encrypt(buf, concat(head, stringToBytes(label)), version, nonce);
    buf = concat(head, sealed);
  }
  return opts.writeLabelHeader === false ? buf : addLabelHeader(buf, label);
}

export interface StreamDecodeOptions extends PushPullLimits {
  readonly keyring?: Keyring | undefined;
  readonly label?: string | undefined;
  /** True on the accepting side, where the dialer's label header arrives. Default true. */
  readonly readLabelHeader?: boolean | undefined;
  /** When true (default) and a keyring is set, plaintext streams are refused. */
  readonly verifyIncoming?: boolean | undefined;
}

export type StreamDecodeResult =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'message'; readonly message: Message; readonly consumed: number }
  | { readonly kind: 'error'; readonly reason: DropReason; readonly detail: string };

const INCOMPLETE: StreamDecodeResult = { kind: 'incomplete' };

/**
 * Tries to decode the first message of a stream from the bytes received so far. Call again with
 * more bytes on 'incomplete'. Never throws. Each call re-parses from the start; the total is
 * bounded by maxPushStateBytes, past which the stream is refused as 'too-large'.
 */
export function tryDecodeStream(buf: Uint8Array, opts: StreamDecodeOptions = {}): StreamDecodeResult {
  const maxBytes = opts.maxPushStateBytes ?? MAX_PUSH_STATE_BYTES;
  if (buf.length === 0) return INCOMPLETE;
  try {
    let at = 0;
    let labelBytes = stringToBytes(opts.label ?? '');
    if (opts.readLabelHeader !== false) {
      if (buf[0] === HAS_LABEL && (buf.length < 2 || (buf[1]! > 0 && buf.length < 2 + buf[1]!))) return INCOMPLETE;
      const header = removeLabelHeader(buf);
      if (!sameBytes(header.labelBytes, labelBytes)) {
        throw new DropError('label-mismatch', 'stream label does not match ours');
      }
      at = buf.length - header.rest.length;
      labelBytes = header.labelBytes;
    }
    const type = buf[at];
    if (type === undefined) return INCOMPLETE;

    if (type === MessageType.encrypt) {
      if (opts.keyring === undefined)
        throw new DropError('decrypt-failed', 'stream is encrypted and we have no keyring');
      if (buf.length < at + 5) return INCOMPLETE;
      const length = new DataView(buf.buffer, buf.byteOffset + at + 1, 4).getUint32(0);
      if (length > maxBytes) throw new DropError('too-large', `encrypted stream of ${length} bytes`);
      const end = at + 5 + length;
      if (buf.length < end) return INCOMPLETE;
      const plain = opts.keyring.decrypt(buf.subarray(at + 5, end), concat(buf.subarray(at, at + 5), labelBytes));
      if (plain === undefined) throw new DropError('decrypt-failed', 'no installed key decrypts the stream');
      try {
        return { kind: 'message', message: decodeInner(plain, 0, opts, maxBytes).message, consumed: end };
      } catch (err) {
        throw asComplete(err);
      }
    }
    if (opts.keyring !== undefined && opts.verifyIncoming !== false) {
      throw new DropError('unencrypted', 'encryption is configured but the stream is plaintext');
    }
    try {
      const { message, end } = decodeInner(buf, at, opts, maxBytes);
      return { kind: 'message', message, consumed: end };
    } catch (err) {
      if (err instanceof DecodeError && err.code === 'truncated') {
        if (buf.length - at > maxBytes) throw new DropError('too-large', 'stream exceeds maxPushStateBytes');
        return INCOMPLETE;
      }
      throw err;
    }
  } catch (err) {
    return { kind: 'error', reason: dropReasonOf(err), detail: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * [type][body] at `offset`, possibly inside one compress wrapper. In a complete buffer (decrypted
 * or decompressed) a 'truncated' DecodeError is rethrown as malformed by the caller's mapping.
 */
function decodeInner(
  buf: Uint8Array,
  offset: number,
  limits: PushPullLimits,
  maxBytes: number,
): { message: Message; end: number } {
  const type = buf[offset];
  if (type === undefined) throw new DecodeError('truncated', 'missing message type byte');
  if (type === MessageType.compress) {
    const { payload, end } = decompressBody(buf, offset + 1, maxBytes);
    const inner = payload[0];
    if (inner === MessageType.compress || inner === MessageType.encrypt) {
      throw new DropError('unexpected-type', 'nested compress/encrypt in a stream');
    }
    try {
      return { message: decodeLeaf(payload, 0, limits, maxBytes).message, end };
    } catch (err) {
      throw asComplete(err);
    }
  }
  return decodeLeaf(buf, offset, limits, maxBytes);
}

function decodeLeaf(
  buf: Uint8Array,
  offset: number,
  limits: PushPullLimits,
  maxBytes: number,
): { message: Message; end: number } {
  const type = buf[offset];
  switch (type) {
    case undefined:
      throw new DecodeError('truncated', 'missing message type byte');
    case MessageType.pushPull:
      return decodePushPullBody(buf, offset + 1, limits);
    case MessageType.user: {
      const { length, end } = decodeUserMsgHeader(buf, offset + 1);
      if (length > maxBytes) throw new DropError('too-large', `user message of ${length} bytes`);
      if (end + length > buf.length) throw new DecodeError('truncated', 'user message is incomplete');
      return { message: { type: 'user', payload: buf.slice(end, end + length) }, end: end + length };
    }
    case MessageType.ping:
    case MessageType.ack:
    case MessageType.err:
      return decodeMessageAt(buf, offset, limits);
    default:
      if (type <= MessageType.err)
        throw new DropError('unexpected-type', `message type ${type} is not valid on a stream`);
      throw new DropError('unknown-type', `unknown message type ${type}`);
  }
}

/** Inside a buffer we hold whole, running out of bytes means the sender lied: malformed. */
function asComplete(err: unknown): unknown {
  return err instanceof DecodeError && err.code === 'truncated' ? new DropError('malformed', err.message) : err;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
