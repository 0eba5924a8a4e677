import type { IncomingMessage } from 'node:http';

/** Past this much refused body, or this long, the connection is cut: the client is not a tool. */
export const MAX_DRAIN_BYTES = 16 * 1024 * 1024;
export const MAX_DRAIN_MS = 10_000;

/**
 * Reads and discards what is left of a refused request's body, so that a client still sending it
 * (a 413 answered at the Content-Length, a 403 before the body) reads the answer instead of
 * EPIPE or ECONNRESET: closing a socket with unread input makes the kernel reset the connection.
 * Bounded in bytes and time; past either, the connection is cut.
 */
export function drainRequestBody(req: IncomingMessage): void {
  if (req.complete || req.destroyed) return;
  let seen = 0;
  const cut = () => {
    clearTimeout(timer);
    req.socket.destroy();
  };
  const timer = setTimeout(cut, MAX_DRAIN_MS);
  timer.unref();
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > MAX_DRAIN_BYTES) cut();
  });
  req.once('close', () => clearTimeout(timer));
  req.resume();
}
