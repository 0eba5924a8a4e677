import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';

/** A real HTTP server on loopback whose behaviour a test changes as it goes. Close it in afterEach. */
export class TestHttpServer {
  /** What the next requests get: a status code, or 'hang' to never answer. */
  mode: number | 'hang' = 200;
  body = 'ok';
  requests = 0;
  readonly server = createHttpServer((req, res) => this.handle(req, res));
  private readonly sockets = new Set<Socket>();

  static async start(): Promise<TestHttpServer> {
    const s = new TestHttpServer();
    s.server.on('connection', (socket) => {
      s.sockets.add(socket);
      socket.once('close', () => s.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    return s;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    if (req.url?.startsWith('/redirect')) {
      res.writeHead(302, { location: '/target' }).end();
      return;
    }
    if (this.mode === 'hang') return;
    res.writeHead(this.mode, { 'content-type': 'text/plain' }).end(this.body);
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A real TCP listener on loopback. */
export async function startTcpServer(port = 0): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const bound = (server.address() as { port: number }).port;
  return {
    server,
    port: bound,
    close: async () => {
      if (!server.listening) return;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
