import { isIPv4, isIPv6 } from 'node:net';
import type { RouteEndpoint } from '@vigil/protocol';
import dnsPacket from 'dns-packet';
import { addressLabel, type DnsIndex, type DnsSnapshot, dnsIndex, labelAddress } from './dns-view.ts';

/** The largest UDP answer we send, whatever a client advertises (RFC 6891 leaves the cap to us). */
export const MAX_UDP_PAYLOAD = 4096;
/** Without EDNS0 a UDP answer must fit in 512 bytes (RFC 1035 §4.2.1). */
export const CLASSIC_UDP_PAYLOAD = 512;
/** A TCP message's length prefix is 16 bits. */
export const MAX_TCP_MESSAGE = 65_535;

export interface DnsAnswerOptions {
  /** The zone we are authoritative for, lowercase, without the trailing dot: `vigil`. */
  readonly domain: string;
  /** TTL of every record, seconds (also the SOA minimum, so negative answers cache as long). */
  readonly ttl: number;
}

export type DnsTransport = 'udp' | 'tcp';

/** Why a query got no answer at all. */
export type DnsDropReason = 'short' | 'response' | 'malformed';

export type DnsRcode = 'NOERROR' | 'FORMERR' | 'SERVFAIL' | 'NXDOMAIN' | 'NOTIMP' | 'REFUSED' | 'BADVERS';

export type DnsOutcome =
  | { readonly kind: 'answer'; readonly response: Buffer; readonly rcode: DnsRcode; readonly truncated: boolean }
  | { readonly kind: 'drop'; readonly reason: DnsDropReason };

const RCODE: Record<DnsRcode, number> = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
};

const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const OPCODE_MASK = 0x7800;

const LABEL = /^[a-z0-9_-]{1,63}$/;
/** SRV weight = share in ten-thousandths: 16 bits hold it, and a share of 0.01 % still counts. */
const WEIGHT_SCALE = 10_000;

type Rr = dnsPacket.Answer;
/** The query type as a string: dns-packet's types omit `ANY` (255), which it decodes. */
type QType = string;

/** dns-packet's name codec, which it exports but its types do not declare. */
const nameCodec = (
  dnsPacket as unknown as {
    name: {
      decode: ((buf: Buffer, offset: number) => string) & { bytes: number };
      encode: (name: string) => Buffer;
    };
  }
).name;

/**
 * The DNS interface's core, without I/O: one query's bytes and the tables in, the response's bytes
 * out (or a reason to stay silent). Answers are authoritative for `domain` only: no recursion
 * (RA=0), and a name outside the zone is REFUSED (RFC 8906 §3.1.3.1, and Consul without recursors).
 *
 * `snapshot` is undefined while the agent has no tables yet (catalog not in sync): SERVFAIL, so
 * resolvers retry rather than cache a negative answer.
 */
export function answerDns(
  query: Buffer,
  snapshot: DnsSnapshot | undefined,
  opts: DnsAnswerOptions,
  transport: DnsTransport,
): DnsOutcome {
  if (query.length < 12) return { kind: 'drop', reason: 'short' };
  const rawFlags = query.readUInt16BE(2);
  // Never answer an answer: two servers could otherwise bounce packets between them forever.
  if ((rawFlags & FLAG_QR) !== 0) return { kind: 'drop', reason: 'response' };
  const id = query.readUInt16BE(0);
  const rd = rawFlags & FLAG_RD;
  const opcodeBits = rawFlags & OPCODE_MASK;
  let packet: dnsPacket.DecodedPacket;
  try {
    packet = dnsPacket.decode(query);
  } catch {
    return headerOnly(id, opcodeBits | rd, 'FORMERR');
  }
  if (opcodeBits !== 0) return headerOnly(id, opcodeBits | rd, 'NOTIMP');
  const questions = packet.questions ?? [];
  const question = questions[0];
  if (questions.length !== 1 || question === undefined) return headerOnly(id, rd, 'FORMERR');
  const opts_ = (packet.additionals ?? []).filter((r) => r.type === 'OPT') as dnsPacket.OptAnswer[];
  if (opts_.length > 1) return headerOnly(id, rd, 'FORMERR');
  const edns = opts_[0];

  const limit =
    transport === 'tcp'
      ? MAX_TCP_MESSAGE
      : edns === undefined
        ? CLASSIC_UDP_PAYLOAD
        : Math.min(Math.max(edns.udpPayloadSize, CLASSIC_UDP_PAYLOAD), MAX_UDP_PAYLOAD);
  const reply: Reply = {
    id,
    flags: rd,
    question,
    answers: [],
    authorities: [],
    additionals: [],
    edns: edns !== undefined,
    rcode: 'NOERROR',
  };
  if (edns !== undefined && edns.ednsVersion !== 0) {
    // RFC 6891 §6.1.3: we speak EDNS version 0 only.
    reply.rcode = 'BADVERS';
    return finish(reply, limit);
  }
  if (!nameIsWellFormed(query, question.name)) {
    reply.rcode = 'FORMERR';
    return finish(reply, limit);
  }

  const name = question.name.toLowerCase();
  const { domain } = opts;
  if (name !== domain && !name.endsWith(`.${domain}`)) {
    reply.rcode = 'REFUSED';
    return finish(reply, limit);
  }
  reply.flags |= FLAG_AA;
  if (question.class !== 'IN' && question.class !== 'ANY') {
    reply.rcode = 'REFUSED';
    return finish(reply, limit);
  }
  if (snapshot === undefined) {
    reply.rcode = 'SERVFAIL';
    return finish(reply, limit);
  }
  const labels = name === domain ? [] : name.slice(0, -domain.length - 1).split('.');
  resolveName(reply, labels, snapshot, opts);
  return finish(reply, limit);
}

interface Reply {
  readonly id: number;
  flags: number;
  readonly question: dnsPacket.Question;
  answers: Rr[];
  authorities: Rr[];
  additionals: Rr[];
  readonly edns: boolean;
  rcode: DnsRcode;
}

/**
 * The question's name must be plain labels: dns-packet joins labels with dots, so a label holding
 * a dot (or bytes that are not UTF-8) would read as a different name. Re-encoding must give back
 * exactly the bytes the query held (a compression pointer in a question has nothing to point to).
 */
function nameIsWellFormed(query: Buffer, name: string): boolean {
  nameCodec.decode(query, 12);
  const raw = query.subarray(12, 12 + nameCodec.decode.bytes);
  if (!nameCodec.encode(name).equals(raw)) return false;
  return name === '.' || name.split('.').every((l) => l.length > 0 && l.length <= 63);
}

function resolveName(reply: Reply, labels: string[], snapshot: DnsSnapshot, opts: DnsAnswerOptions): undefined {
  const index = dnsIndex(snapshot);
  const qtype: QType = reply.question.type;
  const owner = reply.question.name;
  // Each lookup ends in an answer or in one of these (returned, so every path visibly ends).
  const noData = (): undefined => negative(reply, snapshot, opts, 'NOERROR');
  const nxdomain = (): undefined => negative(reply, snapshot, opts, 'NXDOMAIN');
  if (!labels.every((l) => LABEL.test(l))) return nxdomain();

  const [first, second] = labels;
  const kind = labels.at(-1);
  if (labels.length === 0) {
    if (qtype === 'SOA' || qtype === 'ANY') reply.answers.push(soa(owner, snapshot, opts));
    else if (qtype === 'NS') reply.answers.push(ns(owner, opts));
    else noData();
    return;
  }
  // Names that exist only because names below them do (RFC 8020: empty non-terminals).
  if (labels.length === 1 && (kind === 'service' || kind === 'node' || kind === 'addr')) return noData();

  if (kind === 'node' && labels.length === 2 && first !== undefined) {
    const node = index.nodes.get(first);
    if (node === undefined) return nxdomain();
    if (node.status !== 'alive' && node.status !== 'suspect') return noData();
    const record = addressRecord(owner, node.address, qtype, opts.ttl);
    if (record === undefined) return noData();
    reply.answers.push(record);
    return;
  }

  if (kind === 'addr' && labels.length === 2 && first !== undefined) {
    const address = labelAddress(first);
    if (address === undefined) return nxdomain();
    const record = addressRecord(owner, address, qtype, opts.ttl);
    if (record === undefined) return noData();
    reply.answers.push(record);
    return;
  }

  if (kind !== 'service' || labels.length < 2 || labels.length > 3 || first === undefined) return nxdomain();
  // NAME.service, TAG.NAME.service, or RFC 2782's _NAME._TAG.service (`_tcp` meaning any tag).
  let service: string;
  let tag: string | undefined;
  if (labels.length === 2) {
    service = first;
  } else if (first.startsWith('_') && second?.startsWith('_')) {
    service = first.slice(1);
    tag = second === '_tcp' || second === '_udp' ? undefined : second.slice(1);
  } else {
    service = second ?? '';
    tag = first;
  }

  if (tag === 'leader' && snapshot.leader !== undefined) {
    if (!index.services.has(service)) return nxdomain();
    const leader = snapshot.leader(index.services.get(service)?.service ?? service);
    if (leader === undefined) return noData();
    const record = addressRecord(owner, leader.address, qtype, opts.ttl);
    if (qtype === 'SRV') {
      const target = srvTarget(leader, index, opts.domain);
      reply.answers.push(srv(owner, 0, WEIGHT_SCALE, leader.port, target, opts.ttl));
      const glue = addressRecord(target, leader.address, isIPv6(leader.address) ? 'AAAA' : 'A', opts.ttl);
      if (glue) reply.additionals.push(glue);
    } else if (record) reply.answers.push(record);
    else noData();
    return;
  }

  const table = index.services.get(service);
  if (table === undefined) return nxdomain();
  const endpoints =
    tag === undefined ? table.endpoints : table.endpoints.filter((e) => e.tags.some((t) => t.toLowerCase() === tag));
  // A tag no instance carries names nothing; a tag whose instances are all down names an empty set.
  if (endpoints.length === 0) return tag === undefined ? noData() : nxdomain();
  // A `leader` service is its elected instance alone, in SRV answers too: a standby must not take
  // traffic because a client picked a weight-0 record, and no leader means no records.
  const served = table.policy === 'leader' ? endpoints.filter((e) => e.state === 'active') : endpoints;
  serviceRecords(reply, owner, served, qtype, index, opts);
  if (reply.answers.length === 0) noData();
}

function serviceRecords(
  reply: Reply,
  owner: string,
  endpoints: readonly RouteEndpoint[],
  qtype: QType,
  index: DnsIndex,
  opts: DnsAnswerOptions,
): void {
  // Critical instances are left out even when panic routing spreads traffic over them: a DNS
  // client cannot retry elsewhere as the SDK does, so "no healthy instance" reads as no records.
  if (qtype === 'SRV') {
    // Active endpoints (weight = share) and healthy standbys (weight 0): the priorities then carry
    // the whole failover order, which plain A records cannot.
    const glued = new Set<string>();
    for (const e of endpoints) {
      if (e.state === 'demoted' || e.health === 'critical') continue;
      const weight = e.state === 'active' ? Math.max(1, Math.round(e.share * WEIGHT_SCALE)) : 0;
      const target = srvTarget(e, index, opts.domain);
      reply.answers.push(srv(owner, e.tier, weight, e.port, target, opts.ttl));
      if (glued.has(target)) continue;
      glued.add(target);
      const glue = addressRecord(target, e.address, isIPv6(e.address) ? 'AAAA' : 'A', opts.ttl);
      if (glue) reply.additionals.push(glue);
    }
    return;
  }
  if (qtype !== 'A' && qtype !== 'AAAA' && qtype !== 'ANY') return;
  const seen = new Set<string>();
  for (const e of endpoints) {
    if (e.state !== 'active' || e.health === 'critical' || seen.has(e.address)) continue;
    const record = addressRecord(owner, e.address, qtype, opts.ttl);
    if (record === undefined) continue;
    seen.add(e.address);
    reply.answers.push(record);
  }
}

/** `NODE.node.DOMAIN` when the endpoint is on its node's address, else `HEX.addr.DOMAIN`. */
function srvTarget(e: { node: string; address: string }, index: DnsIndex, domain: string): string {
  const node = index.nodes.get(e.node.toLowerCase());
  if (node?.address === e.address && LABEL.test(e.node.toLowerCase())) return `${e.node}.node.${domain}`;
  const label = addressLabel(e.address);
  return label === undefined ? `${e.node}.node.${domain}` : `${label}.addr.${domain}`;
}

function addressRecord(owner: string, address: string, qtype: QType, ttl: number): dnsPacket.StringAnswer | undefined {
  if ((qtype === 'A' || qtype === 'ANY') && isIPv4(address)) return { name: owner, type: 'A', ttl, data: address };
  if ((qtype === 'AAAA' || qtype === 'ANY') && isIPv6(address)) {
    return { name: owner, type: 'AAAA', ttl, data: address };
  }
  return undefined;
}

function srv(owner: string, priority: number, weight: number, port: number, target: string, ttl: number): Rr {
  return { name: owner, type: 'SRV', ttl, data: { priority: Math.min(priority, 65_535), weight, port, target } };
}

function soa(owner: string, snapshot: DnsSnapshot, opts: DnsAnswerOptions): Rr {
  return {
    name: owner,
    type: 'SOA',
    ttl: opts.ttl,
    data: {
      mname: `ns.${opts.domain}`,
      rname: `hostmaster.${opts.domain}`,
      serial: snapshot.serial >>> 0,
      refresh: 3600,
      retry: 600,
      expire: 86_400,
      minimum: opts.ttl,
    },
  };
}

function ns(owner: string, opts: DnsAnswerOptions): Rr {
  return { name: owner, type: 'NS', ttl: opts.ttl, data: `ns.${opts.domain}` };
}

/** NXDOMAIN or NODATA: the zone's SOA in the authority section, so resolvers cache it for its minimum. */
function negative(reply: Reply, snapshot: DnsSnapshot, opts: DnsAnswerOptions, rcode: DnsRcode): undefined {
  reply.rcode = rcode;
  reply.answers = [];
  reply.authorities = [soa(opts.domain, snapshot, opts)];
}

function headerOnly(id: number, flags: number, rcode: DnsRcode): DnsOutcome {
  const response = Buffer.alloc(12);
  response.writeUInt16BE(id, 0);
  response.writeUInt16BE(FLAG_QR | flags | RCODE[rcode], 2);
  return { kind: 'answer', response, rcode, truncated: false };
}

/**
 * Encodes the reply within `limit` bytes. Over the limit, the additional section goes first (it
 * is optional glue), then answers from the end, with TC set so the client retries over TCP.
 */
function finish(reply: Reply, limit: number): DnsOutcome {
  const rcode = RCODE[reply.rcode];
  const additionals: Rr[] = [...reply.additionals];
  const opt: dnsPacket.OptAnswer | undefined = reply.edns
    ? {
        name: '.',
        type: 'OPT',
        udpPayloadSize: MAX_UDP_PAYLOAD,
        extendedRcode: rcode >> 4,
        ednsVersion: 0,
        flags: 0,
        flag_do: false,
        options: [],
      }
    : undefined;
  let answers = reply.answers;
  let truncated = false;
  const encode = () =>
    dnsPacket.encode({
      id: reply.id,
      type: 'response',
      flags: reply.flags | (truncated ? FLAG_TC : 0) | (rcode & 0xf),
      questions: [reply.question],
      answers,
      authorities: reply.authorities,
      additionals: opt ? [...additionals, opt] : additionals,
    });
  let response = encode();
  if (response.length > limit && additionals.length > 0) {
    additionals.length = 0;
    response = encode();
  }
  if (response.length > limit) {
    truncated = true;
    // Binary search for the most answers that fit: each step is one encode of a bounded packet.
    let lo = 0;
    let hi = answers.length;
    const all = answers;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      answers = all.slice(0, mid);
      if (encode().length <= limit) lo = mid;
      else hi = mid - 1;
    }
    answers = all.slice(0, lo);
    response = encode();
  }
  return { kind: 'answer', response, rcode: reply.rcode, truncated };
}
