import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { encodeStream } from '@vigil/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { ipToBytes } from '../src/membership/address.ts';
import type { MembershipService } from '../src/membership/membership-service.ts';
import { readStreamMessage } from '../src/membership/stream-exchange.ts';
import { DEFAULT_VSN } from '../src/membership/swim-engine.ts';
import { realRuntime } from '../src/runtime/index.ts';
import { waitFor } from './helpers/wait.ts';
import { stallEventLoop, warnLoggedMembership } from './helpers/warn-logged-membership.ts';

// "Reached a member over TCP but its UDP probes failed" (issue 19): on a host whose own event
// loop was stalling, the likely cause is CPU starvation, not a blocked port, and the warning says
// so; and it is logged at most every 30 s (a starved 50-agent start logged it 422 times).
//
// The peer is real sockets on loopback: a memberlist member whose UDP port reads and drops
// everything, while its TCP side answers push/pull and memberlist's TCP fallback ping.

const BLOCKED = 'is UDP blocked?';
const STARVED = 'CPU starvation';

class UdpSilentPeer {
  tcpPings = 0;
  readonly port: number;
  private readonly udp: UdpSocket;
  private readonly tcp: Server;
  private readonly sockets = new Set<Socket>();

  private constructor(port: number, udp: UdpSocket, tcp: Server) {
    this.port = port;
    this.udp = udp;
    this.tcp = tcp;
    tcp.on('connection', (socket) => void this.serve(socket));
  }

  static async start(): Promise<UdpSilentPeer> {
    const tcp = createServer();
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const port = (tcp.address() as { port: number }).port;
    const udp = createSocket('udp4');
    udp.on('message', () => {}); // read and dropped: probes by UDP never get an ack
    await new Promise<void>((r) => udp.bind(port, '127.0.0.1', r));
    return new UdpSilentPeer(port, udp, tcp);
  }

  private async serve(socket: Socket): Promise<void> {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    try {
      const msg = await readStreamMessage(socket, { readLabelHeader: true }, 5000, realRuntime().timers);
      const opts = { writeLabelHeader: false, compress: false };
      if (msg.type === 'pushPull') {
        const self = {
          name: 'udp-silent',
          addr: ipToBytes('127.0.0.1'),
          port: this.port,
          meta: new Uint8Array(0),
          incarnation: 1,
          state: 0 as const,
          vsn: DEFAULT_VSN,
        };
        socket.end(encodeStream({ type: 'pushPull', join: false, nodes: [self], userState: new Uint8Array(0) }, opts));
      } else if (msg.type === 'ping') {
        this.tcpPings++;
        socket.end(encodeStream({ type: 'ack', seqNo: msg.seqNo, payload: new Uint8Array(0) }, opts));
      } else socket.end();
    } catch {
      socket.destroy();
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.tcp.close(r));
    await new Promise<void>((r) => this.udp.close(() => r()));
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function observer(): Promise<{ service: MembershipService; warnings: () => string[]; stalls: () => number }> {
  const { service, records, close } = await warnLoggedMembership('observer');
  cleanups.push(close);
  const messages = () => records().map((r) => r.msg);
  const warnings = () => messages().filter((m) => m.includes('over TCP'));
  const stalls = () => messages().filter((m) => m === 'event loop stalled').length;
  return { service, warnings, stalls };
}

async function udpSilentPeer(): Promise<UdpSilentPeer> {
  const peer = await UdpSilentPeer.start();
  cleanups.push(() => peer.close());
  return peer;
}

describe('the "UDP failed, TCP worked" warning', () => {
  it('asks whether UDP is blocked when our loop is healthy, once per 30 s', { timeout: 30_000 }, async () => {
    const peer = await udpSilentPeer();
    const { service, warnings, stalls } = await observer();
    expect((await service.join([{ host: '127.0.0.1', port: peer.port }])).joined).toBe(1);
    await waitFor(() => peer.tcpPings >= 3, 'three TCP fallback pings', 20_000);
    expect(warnings()).toHaveLength(1);
    // This host is shared: if our own loop did stall meanwhile (the check logs every one within
    // a second, and three probe rounds have passed), naming starvation was right.
    expect(warnings()[0]).toContain(stalls() === 0 ? BLOCKED : STARVED);
  });

  it('names CPU starvation when our event loop stalled recently', { timeout: 30_000 }, async () => {
    const peer = await udpSilentPeer();
    const { service, warnings, stalls } = await observer();
    // Let the agent settle first, then stall.
    await new Promise((r) => setTimeout(r, 200));
    stallEventLoop(600);
    expect((await service.join([{ host: '127.0.0.1', port: peer.port }])).joined).toBe(1);
    await waitFor(() => warnings().length > 0, 'the warning', 20_000);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toContain(STARVED);
    expect(warnings()[0]).not.toContain(BLOCKED);
    // The check reports the stall too (within a second of it), feeding Lifeguard and the voter rule.
    await waitFor(() => stalls() > 0, 'the stall logged', 5000);
  });
});
