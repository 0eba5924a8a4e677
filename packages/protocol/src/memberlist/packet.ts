// The UDP pipeline, both ways, as memberlist's rawSendMsgPacket and ingestPacket (net.go):
//   out: [compound of parts] -> LZW if smaller -> CRC header -> AES-GCM -> label header
//   in:  label header -> decrypt -> CRC check -> compound / compress / message, recursively

import { randomBytes as nodeRandomBytes } from 'node:crypto';
import {
  COMPOUND_HEADER_OVERHEAD,
  COMPOUND_PART_OVERHEAD,
  decodeCompound,
  encodeCompound,
  MAX_COMPOUND_PARTS,
} from './compound.ts';
import { compressPayload, decompressBody } from './compress.ts';
import { addCrcHeader, CRC_HEADER_BYTES, checkCrcHeader } from './crc.ts';
import { DropError, type DropReason, dropReasonOf } from './drop-reason.ts';
import { type EncryptionVersion, encryptOverhead, type Keyring } from './keyring.ts';
import { addLabelHeader, labelOverhead, removeLabelHeader } from './label.ts';
import { decodeMessage } from './message-codec.ts';
import { type Message, MessageType } from './messages.ts';
import { stringToBytes } from './msgpack-go.ts';

/** memberlist's UDPBufferSize: the most bytes we put in one packet. */
export const DEFAULT_MAX_PACKET_BYTES = 1400;
/** Bound on what one packet may decompress to (a real one is never beyond 64 KiB). */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 256 * 1024;
/** compound inside compress inside compound ...: memberlist recurses freely; we stop here. */
const MAX_NESTING = 4;

export interface PacketEncodeOptions {
  /** Encrypt with the keyring's primary key (memberlist: a keyring and GossipVerifyOutgoing). */
  readonly keyring?: Keyring | undefined;
  /** 1 for protocol >= 2 (the default), 0 only for protocol 1 peers. */
  readonly encryptionVersion?: EncryptionVersion | undefined;
  readonly label?: string | undefined;
  /** Add a CRC32 header; memberlist does when the receiver's protocol max is >= 5. */
  readonly crc: boolean;
  /** LZW-compress each packet, keeping it only when it is smaller. */
  readonly compress?: boolean | undefined;
  readonly maxPacketBytes?: number | undefined;
  /** Nonce source, for deterministic simulations. Defaults to crypto randomness. */
  readonly randomBytes?: ((n: number) => Uint8Array) | undefined;
}

/**
 * Bytes left for a compound (or a lone message) in one packet once the label, encryption and CRC
 * overheads are taken off. With COMPOUND_HEADER_OVERHEAD and COMPOUND_PART_OVERHEAD this is what a
 * broadcast queue needs to pick piggybacked messages that fit, as memberlist's sendMsg does.
 */
export function packetPayloadBudget(
  opts: Pick<PacketEncodeOptions, 'keyring' | 'encryptionVersion' | 'label' | 'crc' | 'maxPacketBytes'>,
): number {
  return (
    (opts.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES) -
    labelOverhead(opts.label ?? '') -
    (opts.keyring !== undefined ? encryptOverhead(opts.encryptionVersion ?? 1) : 0) -
    (opts.crc ? CRC_HEADER_BYTES : 0)
  );
}

/**
 * Packs already-encoded messages (see encodeMessage) into as few packets as fit `maxPacketBytes`,
 * several per packet as a compound. A part too big for any packet still goes alone in one.
 */
export function encodePacket(parts: readonly Uint8Array[], opts: PacketEncodeOptions): Uint8Array[] {
  const label = opts.label ?? '';
  const version = opts.encryptionVersion ?? 1;
  const budget = packetPayloadBudget(opts);

  const groups: Uint8Array[][] = [];
  let group: Uint8Array[] = [];
  let sum = 0;
  for (const part of parts) {
    const compoundSize = COMPOUND_HEADER_OVERHEAD + COMPOUND_PART_OVERHEAD * (group.length + 1) + sum + part.length;
    if (group.length > 0 && (compoundSize > budget || group.length === MAX_COMPOUND_PARTS)) {
      groups.push(group);
      group = [];
      sum = 0;
    }
    group.push(part);
    sum += part.length;
  }
  if (group.length > 0) groups.push(group);

  const labelBytes = stringToBytes(label);
  return groups.map((g) => {
    let payload = g.length === 1 ? g[0]! : encodeCompound(g);
    if (opts.compress) {
      const compressed = compressPayload(payload);
      if (compressed.length < payload.length) payload = compressed;
    }
    if (opts.crc) payload = addCrcHeader(payload);
    if (opts.keyring !== undefined) {
      const nonce = (opts.randomBytes ?? nodeRandomBytes)(12);
      payload = opts.keyring.encrypt(payload, labelBytes, version, nonce);
    }
    return addLabelHeader(payload, label);
  });
}

export interface PacketDecodeOptions {
  readonly keyring?: Keyring | undefined;
  /** Our cluster label; packets must carry exactly this one (none when empty). */
  readonly label?: string | undefined;
  /** When false, a packet no key decrypts is read as plaintext (memberlist GossipVerifyIncoming). */
  readonly verifyIncoming?: boolean | undefined;
  readonly maxDecompressedBytes?: number | undefined;
}

export type PacketDecodeResult =
  | {
      readonly ok: true;
      readonly messages: Message[];
      /** Parts of a compound that were bad; the good ones are still in `messages`. */
      readonly dropped: number;
      readonly dropReasons: DropReason[];
    }
  | { readonly ok: false; readonly reason: DropReason; readonly detail: string };

/** Decodes one inbound UDP packet. Never throws. */
export function decodePacket(buf: Uint8Array, opts: PacketDecodeOptions = {}): PacketDecodeResult {
  if (buf.length === 0) return { ok: false, reason: 'empty', detail: 'empty packet' };
  const messages: Message[] = [];
  const dropReasons: DropReason[] = [];
  try {
    const { labelBytes, rest } = removeLabelHeader(buf);
    if (!sameBytes(labelBytes, stringToBytes(opts.label ?? ''))) {
      throw new DropError('label-mismatch', 'packet label does not match ours');
    }
    let plain = rest;
    if (opts.keyring !== undefined) {
      const decrypted = opts.keyring.decrypt(rest, labelBytes);
      if (decrypted !== undefined) plain = decrypted;
      else if (opts.verifyIncoming !== false) throw new DropError('decrypt-failed', 'no installed key decrypts it');
    }
    if (plain.length >= CRC_HEADER_BYTES && plain[0] === MessageType.hasCrc) {
      const checked = checkCrcHeader(plain);
      if (checked === undefined) throw new DropError('crc-mismatch', 'CRC32 does not match');
      plain = checked;
    }
    const maxOutput = opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
    handleCommand(plain, 0, maxOutput, messages, dropReasons);
  } catch (err) {
    return { ok: false, reason: dropReasonOf(err), detail: err instanceof Error ? err.message : String(err) };
  }
  return { ok: true, messages, dropped: dropReasons.length, dropReasons };
}

function handleCommand(
  buf: Uint8Array,
  depth: number,
  maxOutput: number,
  messages: Message[],
  drops: DropReason[],
): void {
  const type = buf[0];
  if (type === undefined) throw new DropError('malformed', 'missing message type byte');
  if (depth >= MAX_NESTING) throw new DropError('too-large', 'containers nested too deep');
  switch (type) {
    case MessageType.compound: {
      const { parts, truncated } = decodeCompound(buf.subarray(1));
      for (const part of parts) {
        try {
          handleCommand(part, depth + 1, maxOutput, messages, drops);
        } catch (err) {
          drops.push(dropReasonOf(err));
        }
      }
      for (let i = 0; i < truncated; i++) drops.push('malformed');
      return;
    }
    case MessageType.compress: {
      const { payload } = decompressBody(buf, 1, maxOutput);
      handleCommand(payload, depth + 1, maxOutput, messages, drops);
      return;
    }
    case MessageType.ping:
    case MessageType.indirectPing:
    case MessageType.ack:
    case MessageType.nack:
    case MessageType.suspect:
    case MessageType.alive:
    case MessageType.dead:
    case MessageType.user:
      messages.push(decodeMessage(buf));
      return;
    default:
      if (type <= MessageType.err)
        throw new DropError('unexpected-type', `message type ${type} is not valid in a packet`);
      throw new DropError('unknown-type', `unknown message type ${type}`);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
