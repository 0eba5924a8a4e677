import { isIPv4, isIPv6 } from 'node:net';

/** A UDP/TCP endpoint. Hosts are IP literals: names are resolved at the edge, not in the engine. */
export interface Address {
  readonly host: string;
  readonly port: number;
}

export function addressKey(a: Address): string {
  return `${a.host}:${a.port}`;
}

/** memberlist carries addresses as 4- or 16-byte slices. */
export function ipToBytes(host: string): Uint8Array {
  if (isIPv4(host)) return Uint8Array.from(host.split('.').map(Number));
  if (isIPv6(host)) {
    // An embedded IPv4 tail (::ffff:10.1.2.3) is the last two groups.
    const cut = host.lastIndexOf(':') + 1;
    const v4 = host.slice(cut);
    if (isIPv4(v4)) {
      const [a = 0, b = 0, c = 0, d = 0] = v4.split('.').map(Number);
      host = `${host.slice(0, cut)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
    }
    const [head = '', tail = ''] = host.split('::');
    const parse = (s: string) => (s === '' ? [] : s.split(':').map((h) => Number.parseInt(h, 16)));
    const h = parse(head);
    const t = host.includes('::') ? parse(tail) : [];
    const groups = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
    const out = new Uint8Array(16);
    groups.forEach((g, i) => {
      out[2 * i] = g >> 8;
      out[2 * i + 1] = g & 0xff;
    });
    return out;
  }
  throw new Error(`not an IP address: ${host}`);
}

/** The inverse of ipToBytes; undefined for a slice that is no IP address. */
export function bytesToIp(bytes: Uint8Array): string | undefined {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length === 16) {
    const v4mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
    if (v4mapped) return Array.from(bytes.subarray(12)).join('.');
    const groups: number[] = [];
    for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
    // RFC 5952: compress the longest run of two or more zero groups, the first one on a tie.
    let at = -1;
    let length = 1;
    for (let i = 0; i < 8; ) {
      let j = i;
      while (j < 8 && groups[j] === 0) j++;
      if (j - i > length) [at, length] = [i, j - i];
      i = Math.max(j, i + 1);
    }
    const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
    return at < 0 ? hex(groups) : `${hex(groups.slice(0, at))}::${hex(groups.slice(at + length))}`;
  }
  return undefined;
}

/** Shared Address objects for IPv4 endpoints, keyed by address and port; bounded. */
const interned = new Map<number, Address>();
const INTERN_LIMIT = 65_536;

/** Interned addresses compare by identity; others (IPv6) by value. */
export function sameAddress(a: Address, b: Address): boolean {
  return a === b || (a.port === b.port && a.host === b.host);
}

/**
 * The Address for a memberlist address slice and port. IPv4 endpoints come from a small shared
 * cache, so a process holding many views of one member (the simulator runs thousands of engines)
 * keeps one copy of its address. Undefined for a slice that is no IP address.
 */
export function internAddress(bytes: Uint8Array, port: number): Address | undefined {
  if (bytes.length !== 4) {
    const host = bytesToIp(bytes);
    return host === undefined ? undefined : { host, port };
  }
  const key = (((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0) * 65_536 + port;
  let addr = interned.get(key);
  if (!addr) {
    if (interned.size >= INTERN_LIMIT) interned.clear();
    addr = Object.freeze({ host: bytesToIp(bytes)!, port });
    interned.set(key, addr);
  }
  return addr;
}
