/** Real HTTP servers that play service instances in the SDK tests. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Mode = 'ok' | '503' | '500' | 'hang' | 'reset';

export interface Instance {
  readonly name: string;
  readonly port: number;
  hits: number;
  mode: Mode;
  /** Bodies of the requests received, and their Host headers. */
  readonly bodies: string[];
  readonly hosts: (string | undefined)[];
  /** The Vigil-Fencing-Token header of each request (undefined when absent). */
  readonly tokens: (string | undefined)[];
  /** Stops accepting and cuts every open connection (a crashed instance). */
  close(): Promise<void>;
}

export async function startInstance(name: string, port = 0): Promise<Instance> {
  const sockets = new Set<import('node:net').Socket>();
  const inst: Instance = {
    name,
    port: 0,
    hits: 0,
    mode: 'ok',
    bodies: [],
    hosts: [],
    tokens: [],
    close: async () => {
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((req, res) => {
    inst.hits++;
    inst.hosts.push(req.headers.host);
    inst.tokens.push(req.headers['vigil-fencing-token'] as string | undefined);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      inst.bodies.push(Buffer.concat(chunks).toString());
      switch (inst.mode) {
        case 'hang':
          return;
        case 'reset':
          req.socket.destroy();
          return;
        case '503':
        case '500':
          res.writeHead(Number(inst.mode), { 'content-type': 'text/plain' }).end(`${name} unavailable`);
          return;
        default:
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ instance: name, path: req.url }));
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  (inst as { port: number }).port = (server.address() as AddressInfo).port;
  return inst;
}
