// compressMsg (type 9): [9][msgpack compress{Algo: 0 (LZW), Buf: lzw bytes}], util.go
// compressPayload / decompressPayload.

import { DropError } from './drop-reason.ts';
import { lzwCompress, lzwDecompress } from './lzw.ts';
import { decodeCompressBody, writeCompressBody } from './message-codec.ts';
import { MessageType } from './messages.ts';
import { GoMsgpackWriter } from './msgpack-go.ts';

export const LZW_ALGO = 0;

export function compressPayload(payload: Uint8Array): Uint8Array {
  const w = new GoMsgpackWriter(payload.length + 16);
  w.byte(MessageType.compress);
  writeCompressBody(w, LZW_ALGO, lzwCompress(payload));
  return w.finish();
}

/**
 * Decompresses a compress body (bytes after the type byte). Returns the payload and where the
 * msgpack wrapper ended (streams go on after it). Throws DropError or DecodeError.
 */
export function decompressBody(
  buf: Uint8Array,
  offset: number,
  maxOutput: number,
): { payload: Uint8Array; end: number } {
  const { algo, data, end } = decodeCompressBody(buf, offset);
  if (algo !== LZW_ALGO) throw new DropError('decompress-failed', `unknown compression algorithm ${algo}`);
  try {
    return { payload: lzwDecompress(data, maxOutput), end };
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'too-large') throw err;
    throw new DropError('decompress-failed', err instanceof Error ? err.message : 'lzw failed');
  }
}
