import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, isIPv6, type Server, type Socket } from 'node:net';
import type { Timers } from '../runtime/index.ts';
import type { Address } from './address.ts';
import type { Transport, TransportHandlers } from './transport.ts';

/** memberlist reads up to 64 KiB per datagram; anything bigger is not a memberlist packet. */
const UDP_READ_LIMIT = 65_536;
/** memberlist tries for a 2 MiB receive buffer so bursts of gossip are not dropped by the kernel. */
const UDP_RECV_BUFFER = 2 * 1024 * 1024;

/**
 * The gossip port: one UDP socket and one TCP listener on the same port, as memberlist and Serf
 * use it. Bytes only; framing and crypto belong to the codec.
 */
export class GossipTransport implements Transport {
  readonly address: Address;
  private readonly udp: UdpSocket;
  private readonly tcp: Server;
  private readonly openStreams = new Set<Socket>();
  private readonly timers: Timers;

  private constructor(address: Address, udp: UdpSocket, tcp: Server, timers: Timers) {
    this.address = address;
    this.timers = timers;
    this.udp = udp;
    this.tcp = tcp;
  }

  /** Binds UDP and TCP on `bind`; with port 0, finds a port free for both. */
  static async bind(bind: Address, handlers: TransportHandlers, timers: Timers): Promise<GossipTransport> {
    for (let attempt = 0; ; attempt++) {
      const tcp = createServer();
      const port = await new Promise<number>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: bind.host, port: bind.port, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve((tcp.address() as { port: number }).port);
        });
      }).catch((err: NodeJS.ErrnoException) => {
        throw new Error(`cannot listen on TCP ${bind.host}:${bind.port}: ${err.code ?? err.message}`);
      });
      const udp = createSocket({ type: isIPv6(bind.host) ? 'udp6' : 'udp4', recvBufferSize: UDP_RECV_BUFFER });
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind({ address: bind.host, port, exclusive: true }, () => {
            udp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        udp.close();
        await new Promise((r) => tcp.close(r));
        if (bind.port === 0 && attempt < 10) continue; // the UDP twin of a random TCP port was taken
        throw new Error(`cannot bind UDP ${bind.host}:${port}: ${(err as NodeJS.ErrnoException).code}`);
      }
      const transport = new GossipTransport({ host: bind.host, port }, udp, tcp, timers);
      transport.listen(handlers);
      return transport;
    }
  }

  private listen(handlers: TransportHandlers): void {
    this.udp.on('message', (msg, rinfo) => {
      if (msg.length > UDP_READ_LIMIT) return;
      handlers.packet({ host: rinfo.address, port: rinfo.port }, msg);
    });
    // A send to an unreachable peer surfaces here on some platforms; it is not our failure.
    this.udp.on('error', () => {});
    this.tcp.on('error', () => {}); // e.g. EMFILE on accept: the next connection is tried again
    this.tcp.on('connection', (socket) => {
      this.track(socket);
      handlers.stream(socket, { host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 });
    });
  }

  sendPacket(to: Address, data: Uint8Array): void {
    this.udp.send(data, to.port, to.host);
  }

  /** Opens a stream to a peer's gossip port, failing after `timeoutMs`. */
  dial(to: Address, timeoutMs: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: to.host, port: to.port, noDelay: true });
      this.track(socket);
      let timer = this.timers.after(timeoutMs, () => {
        // A stalled loop runs overdue timers before its I/O: the connect's outcome (a refusal,
        // evidence of its own: tcp-ping.ts) may already wait in the socket. Read it first.
        timer = this.timers.after(0, () => {
          socket.destroy();
          reject(new Error(`connect to ${to.host}:${to.port} timed out`));
        });
      });
      socket.once('connect', () => {
        timer.cancel();
        resolve(socket);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        timer.cancel();
        // The errno code stays on the error: a refused connect is evidence of its own (tcp-ping.ts).
        reject(
          Object.assign(new Error(`connect to ${to.host}:${to.port} failed: ${err.code ?? err.message}`), {
            code: err.code,
          }),
        );
      });
    });
  }

  async close(): Promise<void> {
    for (const s of this.openStreams) s.destroy();
    await Promise.all([
      new Promise<void>((r) => this.tcp.close(() => r())),
      new Promise<void>((r) => {
        try {
          this.udp.close(() => r());
        } catch {
          r();
        }
      }),
    ]);
  }

  private track(socket: Socket): void {
    // A peer that resets a stream after we are done with it must not crash the agent: readers
    // attach their own listeners while they care, and this one keeps a late error harmless.
    socket.on('error', () => {});
    this.openStreams.add(socket);
    socket.once('close', () => this.openStreams.delete(socket));
  }
}
