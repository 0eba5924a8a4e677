import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { DnsServer } from '../src/dns/dns-server.ts';
import type { DnsSnapshot } from '../src/dns/dns-view.ts';
import { VirtualRuntime } from '../src/runtime/index.ts';

// The socket layer over real loopback sockets; its idle timer runs on a virtual clock.

const SNAPSHOT: DnsSnapshot = { tables: [], nodes: [{ name: 'a', address: '127.0.0.1', status: 'alive' }], serial: 1 };

let server: DnsServer | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await server?.stop();
  server = undefined;
});

async function start(runtime = new VirtualRuntime(1), maxTcpConnections = 4): Promise<DnsServer> {
  server = await DnsServer.start({
    listen: { host: '127.0.0.1', port: 0 },
    domain: 'vigil',
    ttl: 0,
    runtime,
    snapshot: () => SNAPSHOT,
    maxTcpConnections,
    tcpIdleMs: 10_000,
  });
  return server;
}

const query = (id: number) =>
  dnsPacket.encode({ type: 'query', id, questions: [{ name: 'a.node.vigil', type: 'A', class: 'IN' }] });

async function tcp(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  sockets.push(s);
  await once(s, 'connect');
  return s;
}

describe('DNS server sockets', () => {
  it('answers over UDP and pipelined queries over TCP, split across writes', async () => {
    const s = await start();
    const udp = createSocket('udp4');
    udp.send(query(7), s.address().port, '127.0.0.1');
    const [reply] = (await once(udp, 'message')) as [Buffer];
    udp.close();
    expect(dnsPacket.decode(reply).answers?.[0]).toMatchObject({ type: 'A', data: '127.0.0.1' });

    const c = await tcp(s.address().port);
    const frames = Buffer.concat(
      [query(1), query(2)].map((q) => Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q])),
    );
    c.write(frames.subarray(0, 5));
    await new Promise((r) => setTimeout(r, 20));
    c.write(frames.subarray(5));
    let got = Buffer.alloc(0);
    const ids: number[] = [];
    while (ids.length < 2) {
      const [chunk] = (await once(c, 'data')) as [Buffer];
      got = Buffer.concat([got, chunk]);
      while (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
        ids.push(dnsPacket.decode(got.subarray(2, 2 + got.readUInt16BE(0))).id ?? -1);
        got = got.subarray(2 + got.readUInt16BE(0));
      }
    }
    expect(ids).toEqual([1, 2]);
    expect(s.counters.queries).toEqual({ udp: 1, tcp: 2 });
  });

  it('closes idle TCP connections after the idle time (virtual clock), and refuses past the limit', async () => {
    const runtime = new VirtualRuntime(1);
    const s = await start(runtime, 1);
    const first = await tcp(s.address().port);
    const second = await tcp(s.address().port);
    await once(second, 'close');
    expect(s.counters.drops['tcp-limit']).toBe(1);
    runtime.advance(9_000);
    expect(first.destroyed).toBe(false);
    runtime.advance(1_000);
    await once(first, 'close');
    expect(s.counters.drops['tcp-idle']).toBe(1);
  });

  it('drops oversized datagrams and never answers a response', async () => {
    const s = await start();
    const udp = createSocket('udp4');
    udp.send(Buffer.alloc(5000), s.address().port, '127.0.0.1');
    const response = Buffer.from(query(3));
    response[2] = (response[2] ?? 0) | 0x80;
    udp.send(response, s.address().port, '127.0.0.1');
    udp.send(query(4), s.address().port, '127.0.0.1');
    const [reply] = (await once(udp, 'message')) as [Buffer];
    udp.close();
    expect(dnsPacket.decode(reply).id).toBe(4);
    expect(s.counters.drops.oversized).toBe(1);
    expect(s.counters.drops.response).toBe(1);
  });
});

describe('DNS server answer memory', () => {
  it('answers a repeated query with its own id, and forgets its answers when the snapshot changes', async () => {
    let snapshot: DnsSnapshot = SNAPSHOT;
    server = await DnsServer.start({
      listen: { host: '127.0.0.1', port: 0 },
      domain: 'vigil',
      ttl: 0,
      runtime: new VirtualRuntime(1),
      snapshot: () => snapshot,
    });
    const udp = createSocket('udp4');
    const ask = async (id: number) => {
      udp.send(query(id), server?.address().port ?? 0, '127.0.0.1');
      const [reply] = (await once(udp, 'message')) as [Buffer];
      return dnsPacket.decode(reply);
    };
    expect((await ask(1)).answers?.[0]).toMatchObject({ data: '127.0.0.1' });
    const again = await ask(2);
    expect(again.id).toBe(2);
    expect(again.answers?.[0]).toMatchObject({ data: '127.0.0.1' });
    snapshot = { ...SNAPSHOT, nodes: [{ name: 'a', address: '127.0.0.9', status: 'alive' }], serial: 2 };
    expect((await ask(3)).answers?.[0]).toMatchObject({ data: '127.0.0.9' });
    udp.close();
  });
});
