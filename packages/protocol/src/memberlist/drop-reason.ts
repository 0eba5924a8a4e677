// Why an inbound packet, message or stream was dropped. A small closed set so it can be a metrics
// label; every failure of decodePacket / tryDecodeStream maps to exactly one of these.

import { DecodeError } from './decode-error.ts';

export type DropReason =
  /** A zero-length packet. */
  | 'empty'
  /** The label header is missing, extra, or names another cluster. */
  | 'label-mismatch'
  /** No installed key authenticates the payload (or it is encrypted and we have no keyring). */
  | 'decrypt-failed'
  /** Encryption is required (verifyIncoming) but the peer sent plaintext. */
  | 'unencrypted'
  | 'crc-mismatch'
  /** The compress wrapper names an unknown algorithm or its LZW data is corrupt. */
  | 'decompress-failed'
  /** Bytes that do not parse as the message they claim to be. */
  | 'malformed'
  /** A length, count or nesting beyond our bounds. */
  | 'too-large'
  /** A type byte memberlist never defined. */
  | 'unknown-type'
  /** A defined type in a place memberlist does not accept it (e.g. push/pull in a UDP packet). */
  | 'unexpected-type'
  /** A member name that breaks the node-name rule (names.ts): control characters, too long, ... */
  | 'invalid-name'
  /** Member tags that break the tag rule (names.ts). */
  | 'invalid-tags';

export const DROP_REASONS: readonly DropReason[] = [
  'empty',
  'label-mismatch',
  'decrypt-failed',
  'unencrypted',
  'crc-mismatch',
  'decompress-failed',
  'malformed',
  'too-large',
  'unknown-type',
  'unexpected-type',
  'invalid-name',
  'invalid-tags',
];

/** Raised inside the pipelines to carry a reason out; never escapes the public API. */
export class DropError extends Error {
  readonly reason: DropReason;

  constructor(reason: DropReason, message: string) {
    super(message);
    this.name = 'DropError';
    this.reason = reason;
  }
}

/** Maps anything thrown while decoding network input to a reason; unknown throws count as malformed. */
export function dropReasonOf(err: unknown): DropReason {
  if (err instanceof DropError) return err.reason;
  if (err instanceof DecodeError) {
    switch (err.code) {
      case 'too-large':
        return 'too-large';
      case 'unknown-type':
        return 'unknown-type';
      default:
        return 'malformed';
    }
  }
  return 'malformed';
}
