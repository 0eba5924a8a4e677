import type { Duplex } from 'node:stream';
import { type Message, type StreamDecodeOptions, tryDecodeStream } from '@vigil/protocol';
import type { Timers } from '../runtime/index.ts';

export class StreamError extends Error {
  override readonly name = 'StreamError';
}

/**
 * Reads one memberlist stream message from a socket, feeding the incremental decoder until it
 * yields a message, the peer closes, the bytes are malformed, or the deadline passes.
 */
export function readStreamMessage(
  socket: Duplex,
  opts: StreamDecodeOptions,
  timeoutMs: number,
  timers: Timers,
): Promise<Message> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const finish = (err?: Error, msg?: Message) => {
      timer.cancel();
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', onEnd);
      if (err) reject(err);
      else resolve(msg!);
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const result = tryDecodeStream(buf, opts);
      if (result.kind === 'message') finish(undefined, result.message);
      else if (result.kind === 'error') finish(new StreamError(`${result.reason}: ${result.detail}`));
    };
    const onEnd = () => finish(new StreamError('peer closed the stream before a full message'));
    const onError = (err: Error) => finish(new StreamError(err.message));
    // On expiry, one more loop turn: a stalled loop runs overdue timers before its I/O, and the
    // reply may already wait in the socket (gossip-transport.ts's dial does the same).
    let timer = timers.after(timeoutMs, () => {
      timer = timers.after(0, () => finish(new StreamError(`no reply within ${timeoutMs} ms`)));
    });
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
  });
}
