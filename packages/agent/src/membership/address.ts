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
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
    return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
  }
  return undefined;
}
