// Typed failures of the wire codec. Network input never raises anything else, so callers can count
// and drop on `code` without guessing.

export type DecodeErrorCode =
  /** The input ended inside a value; on a stream this means "wait for more bytes". */
  | 'truncated'
  /** Bytes that are not valid msgpack, or a value of the wrong shape for its field. */
  | 'malformed'
  /** A length, count, depth or integer beyond what the codec accepts. */
  | 'too-large'
  /** A message type byte the codec does not know. */
  | 'unknown-type';

export class DecodeError extends Error {
  readonly code: DecodeErrorCode;

  constructor(code: DecodeErrorCode, message: string) {
    super(message);
    this.name = 'DecodeError';
    this.code = code;
  }
}

/** Raised when we are asked to put something on the wire that memberlist would refuse. */
export class EncodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EncodeError';
  }
}
