import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A real HTTP server for health checks to probe, whose answer a test changes as it goes: a status
 * code, or 'hang' (accept and never answer). Close it in afterEach.
 */
export class HttpTarget {
  mode: number | 'hang' = 200;
  requests = 0;
  readonly server: Server;
  private readonly sockets = new Set<Socket>();

  private constructor() {
    this.server = createServer((_req, res) => {
      this.requests++;
      if (this.mode === 'hang') return;
      res.writeHead(this.mode, { 'content-type': 'text/plain' }).end(`status ${this.mode}`);
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  static async start(): Promise<HttpTarget> {
    const target = new HttpTarget();
    await new Promise<void>((resolve) => target.server.listen(0, '127.0.0.1', resolve));
    return target;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Polls until `fn` returns something other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
