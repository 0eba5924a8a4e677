import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { answerDns, MAX_UDP_PAYLOAD } from '../src/dns/dns-answer.ts';
import { dnsSnapshotSource } from '../src/dns/dns-source.ts';
import { addressLabel, type DnsSnapshot, labelAddress, tableLeader } from '../src/dns/dns-view.ts';
import { computeRouting } from '../src/routing/index.ts';
import { inst, member, rec } from './routing-fixtures.ts';

const OPTS = { domain: 'vigil', ttl: 0 };

/** web: a (tier 0, weight 3, tag v2) and b (tier 0, weight 1) active, c (tier 1) standby; db: all critical. */
function snapshot(overrides: Partial<DnsSnapshot> = {}): DnsSnapshot {
  const records = [
    rec('a', [inst('wa', { address: '10.0.0.1', port: 8001, weight: 3, tags: ['v2'] })]),
    rec('b', [inst('wb', { address: '10.0.0.2', port: 8002 })]),
    rec('c', [inst('wc', { address: 'fd00::3', port: 8003, priority: 1 })]),
    rec('d', [inst('dd', { service: 'db', address: '10.0.0.4', health: 'critical' })]),
    rec('e', [inst('we', { service: 'wide', address: '10.0.0.9', port: 9000 })]),
  ];
  const members = ['a', 'b', 'c', 'd', 'e'].map((n) => member(n));
  const { tables } = computeRouting({ records, members, localZone: 'a', now: 0 });
  return {
    tables,
    nodes: [
      { name: 'a', address: '10.0.0.1', status: 'alive' },
      { name: 'b', address: '10.0.0.2', status: 'alive' },
      { name: 'c', address: 'fd00::3', status: 'alive' },
      { name: 'd', address: '10.0.0.4', status: 'dead' },
      { name: 'e', address: '10.0.0.5', status: 'alive' },
    ],
    serial: 42,
    ...overrides,
  };
}

function query(name: string, type: string, extra: Partial<dnsPacket.Packet> = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as dnsPacket.RecordType, class: 'IN' }],
    ...extra,
  });
}

function ask(name: string, type: string, snap: DnsSnapshot | undefined = snapshot(), transport: 'udp' | 'tcp' = 'udp') {
  const outcome = answerDns(query(name, type), snap, OPTS, transport);
  if (outcome.kind !== 'answer') throw new Error(`dropped: ${outcome.reason}`);
  return { outcome, packet: dnsPacket.decode(outcome.response) };
}

describe('DNS answers', () => {
  it('answers A with the active endpoints in share order, authoritative, no recursion', () => {
    const { outcome, packet } = ask('web.service.vigil', 'A');
    expect(outcome.rcode).toBe('NOERROR');
    expect(packet.id).toBe(4242);
    expect(packet.flag_aa).toBe(true);
    expect(packet.flag_ra).toBe(false);
    expect(packet.flag_rd).toBe(true);
    expect(packet.answers?.map((a) => a.type === 'A' && a.data)).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(packet.answers?.every((a) => a.type === 'A' && a.ttl === 0)).toBe(true);
  });

  it('answers SRV with priority = tier, weight = share, node targets and their addresses as glue', () => {
    const { packet } = ask('web.service.vigil', 'SRV');
    const srv = packet.answers?.map((a) => (a.type === 'SRV' ? a.data : undefined));
    expect(srv).toEqual([
      { priority: 0, weight: 7500, port: 8001, target: 'a.node.vigil' },
      { priority: 0, weight: 2500, port: 8002, target: 'b.node.vigil' },
      { priority: 1, weight: 0, port: 8003, target: 'c.node.vigil' },
    ]);
    const glue = packet.additionals?.map((a) => [a.name, a.type, 'data' in a ? a.data : undefined]);
    expect(glue).toEqual([
      ['a.node.vigil', 'A', '10.0.0.1'],
      ['b.node.vigil', 'A', '10.0.0.2'],
      ['c.node.vigil', 'AAAA', 'fd00::3'],
    ]);
  });

  it('targets HEX.addr when the endpoint is not on its node address, and resolves that name', () => {
    const { packet } = ask('wide.service.vigil', 'SRV');
    expect(packet.answers?.[0]?.type === 'SRV' && packet.answers[0].data.target).toBe('0a000009.addr.vigil');
    expect(ask('0a000009.addr.vigil', 'A').packet.answers?.[0]).toMatchObject({ type: 'A', data: '10.0.0.9' });
    expect(labelAddress(addressLabel('fd00::3') ?? '')).toBe('fd00:0000:0000:0000:0000:0000:0000:0003');
  });

  it('filters by tag, standard and RFC 2782 forms, case-insensitively', () => {
    expect(ask('V2.Web.Service.Vigil', 'A').packet.answers?.map((a) => a.type === 'A' && a.data)).toEqual(['10.0.0.1']);
    expect(ask('_web._v2.service.vigil', 'SRV').packet.answers).toHaveLength(1);
    expect(ask('_web._tcp.service.vigil', 'SRV').packet.answers).toHaveLength(3);
    // The owner name echoes the question's case (0x20 randomisation by resolvers).
    expect(ask('V2.Web.Service.Vigil', 'A').packet.answers?.[0]?.name).toBe('V2.Web.Service.Vigil');
  });

  it('AAAA gives the IPv6 active endpoints: none here, so an empty answer with the SOA', () => {
    const { outcome, packet } = ask('web.service.vigil', 'AAAA');
    expect(outcome.rcode).toBe('NOERROR');
    expect(packet.answers).toEqual([]);
    expect(packet.authorities?.[0]).toMatchObject({ type: 'SOA', name: 'vigil' });
  });

  it('NXDOMAIN for unknown names; NODATA with SOA for a service with no healthy instance', () => {
    for (const name of ['nope.service.vigil', 'x.y.z.service.vigil', 'zz.node.vigil', 'v9.web.service.vigil']) {
      const { outcome, packet } = ask(name, 'A');
      expect(outcome.rcode, name).toBe('NXDOMAIN');
      expect(packet.authorities?.[0]?.type, name).toBe('SOA');
    }
    const db = ask('db.service.vigil', 'A');
    expect(db.outcome.rcode).toBe('NOERROR');
    expect(db.packet.answers).toEqual([]);
    const soa = db.packet.authorities?.[0];
    expect(soa?.type === 'SOA' && soa.data).toMatchObject({ serial: 42, minimum: 0, mname: 'ns.vigil' });
  });

  it('resolves nodes by membership; a dead node exists but has no address', () => {
    expect(ask('a.node.vigil', 'A').packet.answers?.[0]).toMatchObject({ type: 'A', data: '10.0.0.1' });
    expect(ask('c.node.vigil', 'AAAA').packet.answers?.[0]).toMatchObject({ type: 'AAAA', data: 'fd00::3' });
    const dead = ask('d.node.vigil', 'A');
    expect(dead.outcome.rcode).toBe('NOERROR');
    expect(dead.packet.answers).toEqual([]);
  });

  it('refuses names outside the zone (no recursion) and answers the apex SOA', () => {
    const out = ask('example.com', 'A');
    expect(out.outcome.rcode).toBe('REFUSED');
    expect(out.packet.flag_aa).toBe(false);
    expect(ask('vigil', 'SOA').packet.answers?.[0]?.type).toBe('SOA');
    expect(ask('service.vigil', 'A').outcome.rcode).toBe('NOERROR');
  });

  it('SERVFAIL before the agent has any table', () => {
    expect(answerDns(query('web.service.vigil', 'A'), undefined, OPTS, 'udp')).toMatchObject({ rcode: 'SERVFAIL' });
  });

  it('leader.NAME is a tag filter until elections provide a leader hook, then the leader', () => {
    expect(ask('leader.web.service.vigil', 'A').outcome.rcode).toBe('NXDOMAIN');
    const snap = snapshot({
      leader: (service) => (service === 'web' ? { node: 'b', address: '10.0.0.2', port: 8002 } : undefined),
    });
    expect(ask('leader.web.service.vigil', 'A', snap).packet.answers?.map((a) => a.type === 'A' && a.data)).toEqual([
      '10.0.0.2',
    ]);
    expect(ask('leader.wide.service.vigil', 'A', snap).outcome.rcode).toBe('NOERROR');
  });

  it('a leader service answers with the elected instance only, as the routing table routes', () => {
    const db = (node: string, n: number) =>
      rec(node, [inst(`db-${node}`, { service: 'pg', address: `10.0.2.${n}`, port: 5432, policy: 'leader' })]);
    const members = ['p', 'q', 'r'].map((n) => member(n));
    const records = [db('p', 1), db('q', 2), db('r', 3)];
    const snap = (leads: boolean): DnsSnapshot => {
      const withClaim = leads
        ? [{ ...records[1]!, leads: [{ group: 'pg', token: 7, term: 2, instance: 'db-q' }] }]
        : [];
      const { tables } = computeRouting({
        records: [records[0]!, ...(leads ? withClaim : [records[1]!]), records[2]!],
        members,
        localZone: 'a',
        now: 0,
      });
      return {
        tables,
        nodes: [],
        serial: 1,
        leader: (service) => tableLeader(tables.find((t) => t.service === service)),
      };
    };
    const data = (name: string, type: string, s: DnsSnapshot) =>
      ask(name, type, s).packet.answers?.map((a) =>
        a.type === 'SRV' ? `${a.data.port} ${a.data.weight}` : a.type === 'A' ? a.data : a.type,
      );
    const elected = snap(true);
    expect(data('pg.service.vigil', 'A', elected)).toEqual(['10.0.2.2']);
    expect(data('leader.pg.service.vigil', 'A', elected)).toEqual(['10.0.2.2']);
    // SRV: the leader alone, no weight-0 standbys a client might pick.
    expect(data('pg.service.vigil', 'SRV', elected)).toEqual(['5432 10000']);
    expect(data('leader.pg.service.vigil', 'SRV', elected)).toEqual(['5432 10000']);
    // No leader known: the service exists, so empty NOERROR (not NXDOMAIN), for every form.
    const none = snap(false);
    for (const [name, type] of [
      ['pg.service.vigil', 'A'],
      ['pg.service.vigil', 'SRV'],
      ['leader.pg.service.vigil', 'A'],
    ] as const) {
      const { outcome, packet } = ask(name, type, none);
      expect(outcome.rcode, `${name} ${type}`).toBe('NOERROR');
      expect(packet.answers ?? []).toEqual([]);
    }
    expect(ask('leader.nosuch.service.vigil', 'A', none).outcome.rcode).toBe('NXDOMAIN');
  });

  it('truncates a UDP answer that does not fit, sets TC, and gives all of it over TCP', () => {
    const records = Array.from({ length: 60 }, (_, i) =>
      rec(`n${i}`, [inst(`w${i}`, { address: `10.1.0.${i + 1}`, port: 9000 + i })]),
    );
    const { tables } = computeRouting({
      records,
      members: records.map((r) => member(r.node)),
      localZone: 'a',
      now: 0,
    });
    const nodes = records.map((r, i) => ({ name: r.node, address: `10.1.0.${i + 1}`, status: 'alive' as const }));
    const snap: DnsSnapshot = { tables, nodes, serial: 1 };
    const udp = ask('web.service.vigil', 'SRV', snap, 'udp');
    expect(udp.outcome.response.length).toBeLessThanOrEqual(512);
    expect(udp.packet.flag_tc).toBe(true);
    expect(udp.packet.answers?.length).toBeLessThan(60);
    const tcp = ask('web.service.vigil', 'SRV', snap, 'tcp');
    expect(tcp.packet.flag_tc).toBe(false);
    expect(tcp.packet.answers).toHaveLength(60);
    expect(tcp.packet.additionals).toHaveLength(60);
    // EDNS0: the advertised size is honoured (up to our cap), and the answer carries an OPT.
    const edns = answerDns(
      query('web.service.vigil', 'A', {
        additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 65_000, flags: 0 } as dnsPacket.OptAnswer],
      }),
      snap,
      OPTS,
      'udp',
    );
    if (edns.kind !== 'answer') throw new Error('dropped');
    expect(edns.truncated).toBe(false);
    expect(edns.response.length).toBeGreaterThan(512);
    expect(edns.response.length).toBeLessThanOrEqual(MAX_UDP_PAYLOAD);
    const decoded = dnsPacket.decode(edns.response);
    expect(decoded.answers).toHaveLength(60);
    expect(decoded.additionals?.[0]).toMatchObject({ type: 'OPT', udpPayloadSize: MAX_UDP_PAYLOAD });
  });

  it('BADVERS for EDNS versions above 0; FORMERR for two questions; NOTIMP for other opcodes', () => {
    const v1 = answerDns(
      query('web.service.vigil', 'A', {
        additionals: [
          { name: '.', type: 'OPT', udpPayloadSize: 1232, ednsVersion: 1, flags: 0 } as dnsPacket.OptAnswer,
        ],
      }),
      snapshot(),
      OPTS,
      'udp',
    );
    expect(v1.kind === 'answer' && v1.rcode).toBe('BADVERS');
    if (v1.kind === 'answer')
      expect(dnsPacket.decode(v1.response).additionals?.[0]).toMatchObject({ extendedRcode: 1 });
    const two = dnsPacket.encode({
      type: 'query',
      id: 1,
      questions: [
        { name: 'a.node.vigil', type: 'A', class: 'IN' },
        { name: 'b.node.vigil', type: 'A', class: 'IN' },
      ],
    });
    expect(answerDns(two, snapshot(), OPTS, 'udp')).toMatchObject({ kind: 'answer', rcode: 'FORMERR' });
    const notify = Buffer.from(query('vigil', 'SOA'));
    notify.writeUInt16BE(notify.readUInt16BE(2) | (4 << 11), 2);
    expect(answerDns(notify, snapshot(), OPTS, 'udp')).toMatchObject({ kind: 'answer', rcode: 'NOTIMP' });
  });

  it('refuses a label holding a dot (it would read as another name) and odd bytes', () => {
    // web.service as one label, then vigil: decodes to "web.service.vigil" but is not that name.
    const q = Buffer.from(query('x.vigil', 'A'));
    const name = Buffer.concat([
      Buffer.from([11]),
      Buffer.from('web.service'),
      Buffer.from([5]),
      Buffer.from('vigil'),
      Buffer.from([0]),
    ]);
    const forged = Buffer.concat([q.subarray(0, 12), name, q.subarray(12 + 9)]);
    expect(answerDns(forged, snapshot(), OPTS, 'udp')).toMatchObject({ kind: 'answer', rcode: 'FORMERR' });
    expect(ask('we$b.service.vigil', 'A').outcome.rcode).toBe('NXDOMAIN');
  });

  it('stays silent for runts and for responses', () => {
    expect(answerDns(Buffer.alloc(5), snapshot(), OPTS, 'udp')).toEqual({ kind: 'drop', reason: 'short' });
    const response = Buffer.from(query('a.node.vigil', 'A'));
    response.writeUInt16BE(response.readUInt16BE(2) | 0x8000, 2);
    expect(answerDns(response, snapshot(), OPTS, 'udp')).toEqual({ kind: 'drop', reason: 'response' });
  });

  it('fuzz: random bytes and mutated queries never throw, and every answer fits and echoes the id', () => {
    const snap = snapshot();
    const valid = [query('web.service.vigil', 'SRV'), query('a.node.vigil', 'A'), query('v2.web.service.vigil', 'ANY')];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 0, maxLength: 600 }),
          fc
            .tuple(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 8 }))
            .map(([q, flips]) => {
              const b = Uint8Array.from(q);
              for (const [i, v] of flips) b[i % b.length] = v;
              return b;
            }),
        ),
        fc.constantFrom('udp' as const, 'tcp' as const),
        (bytes, transport) => {
          const buf = Buffer.from(bytes);
          const out = answerDns(buf, snap, OPTS, transport);
          if (out.kind === 'answer') {
            expect(out.response.length).toBeLessThanOrEqual(transport === 'udp' ? MAX_UDP_PAYLOAD : 65_535);
            expect(out.response.readUInt16BE(0)).toBe(buf.readUInt16BE(0));
            expect(out.response.readUInt16BE(2) & 0x8000).toBe(0x8000);
          }
        },
      ),
      { numRuns: 5000, seed: 16 },
    );
  });
});

describe('DNS snapshot source', () => {
  it('rebuilds only when the feed moves, and keeps the last snapshot when reading fails (stale-if-error)', () => {
    let index = 1;
    let reads = 0;
    let failing = false;
    let ready = false;
    const source = dnsSnapshotSource({
      index: () => index,
      ready: () => ready,
      tables: () => {
        reads++;
        if (failing) throw new Error('catalog unreachable');
        return snapshot().tables;
      },
      nodes: () => [],
    });
    expect(source()).toBeUndefined();
    ready = true;
    const first = source();
    expect(first?.serial).toBe(1);
    expect(source()).toBe(first);
    expect(reads).toBe(1);
    index = 2;
    failing = true;
    expect(source()).toBe(first);
    failing = false;
    expect(source()?.serial).toBe(2);
  });
});
