// Membership bytes on the wire, measured from outside the agents and the same way for Serf and
// Vigil: tcpdump on the loopback interface with a filter on the cluster's gossip ports, headers
// only (-s 128), then the pcap file is read here. Every UDP or TCP segment with a gossip port at
// either end is membership traffic sent by one of the agents (UDP packets go from gossip port to
// gossip port; TCP push/pull and fallback pings go from an ephemeral port to a gossip port and
// back), so the cluster's total payload divided by N and by the window is the bytes each agent
// sends per second on average. Payload means UDP or TCP payload: IP/UDP/TCP headers, handshakes
// and bare ACKs count zero. Nothing else on the machine uses these ports.
//
// Vigil has a second plane Serf lacks: the libp2p catalog (TCP between the agents' --p2p ports).
// Its ports go into the same capture and its segments are summed apart (`p2pBytes`), so the bench
// states both planes and their total against Serf's single one.

import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export interface CaptureTotals {
  readonly udpPackets: number;
  readonly udpBytes: number;
  readonly tcpSegments: number;
  readonly tcpBytes: number;
  /** Payload of TCP segments with a libp2p (--p2p) port at either end; not in udp/tcpBytes. */
  readonly p2pSegments: number;
  readonly p2pBytes: number;
  /** As tcpdump reported at exit ("N packets dropped by kernel"); should be 0. */
  readonly kernelDrops: number;
}

export class Capture {
  private readonly child: ChildProcess;
  private readonly file: string;
  private readonly p2pPorts: ReadonlySet<number>;
  private stderr = '';

  private constructor(child: ChildProcess, file: string, p2pPorts: ReadonlySet<number>) {
    this.child = child;
    this.file = file;
    this.p2pPorts = p2pPorts;
    child.stderr?.on('data', (d) => {
      this.stderr += d;
    });
  }

  /** Starts tcpdump and resolves once it listens. `p2pPorts`: the libp2p plane's, counted apart. */
  static async start(file: string, ports: readonly number[], p2pPorts: readonly number[] = []): Promise<Capture> {
    const filter = `(udp or tcp) and (${[...ports, ...p2pPorts].map((p) => `port ${p}`).join(' or ')})`;
    const child = spawn('tcpdump', ['-i', 'lo', '-n', '-s', '128', '-B', '8192', '-U', '-w', file, filter], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const cap = new Capture(child, file, new Set(p2pPorts));
    const deadline = Date.now() + 10_000;
    while (!/listening on/.test(cap.stderr)) {
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`tcpdump did not start (install it: apt-get install tcpdump): ${cap.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return cap;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Stops tcpdump and sums the payload it saw. */
  async stop(): Promise<CaptureTotals> {
    const exited = new Promise((r) => this.child.once('exit', r));
    if (this.child.exitCode === null) this.child.kill('SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    const drops = /(\d+) packets? dropped by kernel/.exec(this.stderr);
    return { ...parsePcap(await readFile(this.file), this.p2pPorts), kernelDrops: drops ? Number(drops[1]) : 0 };
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** Reads a classic pcap file of Linux loopback frames (Ethernet link type) and sums payloads. */
export function parsePcap(buf: Buffer, p2pPorts: ReadonlySet<number> = new Set()): Omit<CaptureTotals, 'kernelDrops'> {
  const totals = { udpPackets: 0, udpBytes: 0, tcpSegments: 0, tcpBytes: 0, p2pSegments: 0, p2pBytes: 0 };
  if (buf.length < 24) return totals;
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && buf.readUInt32BE(0) !== 0xa1b2c3d4 && buf.readUInt32BE(0) !== 0xa1b23c4d)
    throw new Error('not a pcap file');
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linkType = u32(20);
  if (linkType !== 1) throw new Error(`unexpected pcap link type ${linkType} (want Ethernet, 1)`);
  let off = 24;
  while (off + 16 <= buf.length) {
    const incl = u32(off + 8);
    const frame = off + 16;
    off = frame + incl;
    if (off > buf.length) break;
    if (incl < 14 + 20 || buf.readUInt16BE(frame + 12) !== 0x0800) continue; // IPv4 only
    const ipStart = frame + 14;
    const ihl = (buf[ipStart]! & 0x0f) * 4;
    const total = buf.readUInt16BE(ipStart + 2);
    const proto = buf[ipStart + 9];
    if (proto === 17) {
      totals.udpPackets++;
      totals.udpBytes += total - ihl - 8;
    } else if (proto === 6 && incl >= 14 + ihl + 13) {
      const doff = (buf[ipStart + ihl + 12]! >> 4) * 4;
      const payload = total - ihl - doff;
      const sport = buf.readUInt16BE(ipStart + ihl);
      const dport = buf.readUInt16BE(ipStart + ihl + 2);
      if (payload > 0 && (p2pPorts.has(sport) || p2pPorts.has(dport))) {
        totals.p2pSegments++;
        totals.p2pBytes += payload;
      } else if (payload > 0) {
        totals.tcpSegments++;
        totals.tcpBytes += payload;
      }
    }
  }
  return totals;
}
