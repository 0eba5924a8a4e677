import { isIPv4, isIPv6 } from 'node:net';
import type { RouteTable } from '@vigil/protocol';
import type { MemberStatus } from '../base/member-status.ts';

/** A member as the DNS interface needs it. */
export interface DnsNode {
  readonly name: string;
  readonly address: string;
  readonly status: MemberStatus;
}

/** The leader of a `leader` service, once elections exist (the `leader.NAME.service` hook). */
export interface DnsLeader {
  readonly node: string;
  readonly address: string;
  readonly port: number;
}

/**
 * The leader of a `leader` service as the routing table routes to it (the elected instance), or
 * undefined when the table names none: the DNS answer follows the elections exactly as traffic does.
 */
export function tableLeader(table: RouteTable | undefined): DnsLeader | undefined {
  const leader = table?.leader;
  if (leader === undefined) return undefined;
  const e = table?.endpoints.find((x) => x.node === leader.node && x.id === leader.id);
  return e === undefined ? undefined : { node: e.node, address: e.address, port: e.port };
}

/**
 * What the DNS interface answers from: the routing tables and the member list at one moment.
 * A snapshot is immutable; the server swaps in a new one when the agent's change feed moves.
 */
export interface DnsSnapshot {
  readonly tables: readonly RouteTable[];
  readonly nodes: readonly DnsNode[];
  /** Rises with every change: the SOA serial. */
  readonly serial: number;
  /**
   * Elections' hook: the leader of a service, or undefined when it has none. Absent while the
   * agent runs no elections; `leader.NAME.service` then reads as a tag filter like any other.
   */
  readonly leader?: (service: string) => DnsLeader | undefined;
}

/** A snapshot's lookup maps, built once per snapshot (names compared case-insensitively). */
export interface DnsIndex {
  readonly services: ReadonlyMap<string, RouteTable>;
  readonly nodes: ReadonlyMap<string, DnsNode>;
}

const indexes = new WeakMap<DnsSnapshot, DnsIndex>();

export function dnsIndex(snapshot: DnsSnapshot): DnsIndex {
  let index = indexes.get(snapshot);
  if (index !== undefined) return index;
  const services = new Map<string, RouteTable>();
  for (const t of snapshot.tables) {
    const key = t.service.toLowerCase();
    // Two services differing only in case: DNS cannot tell them apart; the first (sorted) wins.
    if (!services.has(key)) services.set(key, t);
  }
  const nodes = new Map<string, DnsNode>();
  for (const n of snapshot.nodes) {
    const key = n.name.toLowerCase();
    if (!nodes.has(key)) nodes.set(key, n);
  }
  index = { services, nodes };
  indexes.set(snapshot, index);
  return index;
}

/** `7f000001` for 127.0.0.1, 32 hex digits for an IPv6 address: Consul's `.addr.` label. */
export function addressLabel(address: string): string | undefined {
  if (isIPv4(address)) {
    return address
      .split('.')
      .map((o) => Number(o).toString(16).padStart(2, '0'))
      .join('');
  }
  if (isIPv6(address)) return expandIPv6(address)?.replaceAll(':', '');
  return undefined;
}

/** The address an `.addr.` label names, or undefined when the label is not one. */
export function labelAddress(label: string): string | undefined {
  if (/^[0-9a-f]{8}$/.test(label)) {
    return [0, 2, 4, 6].map((i) => Number.parseInt(label.slice(i, i + 2), 16)).join('.');
  }
  if (/^[0-9a-f]{32}$/.test(label)) {
    return label.match(/.{4}/g)?.join(':');
  }
  return undefined;
}

function expandIPv6(address: string): string | undefined {
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const last = right.length > 0 ? right : left;
  const v4 = last.at(-1);
  if (v4 !== undefined && isIPv4(v4)) {
    const o = v4.split('.').map(Number);
    last.splice(-1, 1, ((o[0]! << 8) | o[1]!).toString(16), ((o[2]! << 8) | o[3]!).toString(16));
  }
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (tail === undefined && missing !== 0)) return undefined;
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((g) => g.padStart(4, '0')).join(':');
}
