import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { formatHostPort, type HostPort } from '../config/host-port.ts';
import type { Runtime, TimerHandle } from '../runtime/index.ts';
import {
  answerDns,
  type DnsAnswerOptions,
  type DnsDropReason,
  type DnsOutcome,
  type DnsRcode,
  type DnsTransport,
  MAX_UDP_PAYLOAD,
} from './dns-answer.ts';
import type { DnsSnapshot } from './dns-view.ts';

/** Reasons the socket layer drops a query or a connection, beside the core's. */
export type DnsSocketDrop = 'oversized' | 'tcp-limit' | 'tcp-idle' | 'tcp-slow-reader';

export interface DnsCounters {
  readonly queries: Record<DnsTransport, number>;
  readonly responses: Partial<Record<DnsRcode, number>>;
  truncated: number;
  readonly drops: Record<DnsDropReason | DnsSocketDrop, number>;
  tcpConnections: number;
}

export interface DnsServerOptions extends DnsAnswerOptions {
  readonly listen: HostPort;
  readonly runtime: Runtime;
  /** The tables to answer from; undefined until the agent has any (answered SERVFAIL). */
  readonly snapshot: () => DnsSnapshot | undefined;
  /** Open TCP connections at most; more are closed at once (and counted). */
  readonly maxTcpConnections?: number;
  /** A TCP connection with no query for this long is closed, ms. */
  readonly tcpIdleMs?: number;
}

const DEFAULT_MAX_TCP = 256;
/** RFC 7766 §6.2.3 suggests tens of seconds; a local stub needs far less. */
const DEFAULT_TCP_IDLE_MS = 10_000;
/** A client that stops reading while we answer more than this is cut off. */
const MAX_TCP_BACKLOG = 1024 * 1024;
/** Distinct queries remembered per snapshot; past this the memory starts over. */
const CACHE_ENTRIES = 4096;

/**
 * The DNS interface's sockets: UDP and TCP on one address. Every query goes through the pure
 * answerDns; this layer only frames, bounds and counts.
 */
export class DnsServer {
  readonly counters: DnsCounters = {
    queries: { udp: 0, tcp: 0 },
    responses: {},
    truncated: 0,
    drops: {
      short: 0,
      response: 0,
      malformed: 0,
      oversized: 0,
      'tcp-limit': 0,
      'tcp-idle': 0,
      'tcp-slow-reader': 0,
    },
    tcpConnections: 0,
  };
  private readonly opts: DnsServerOptions;
  private readonly udp: UdpSocket;
  private readonly tcp: Server;
  private readonly connections = new Set<Socket>();
  /**
   * answerDns is a pure function of (query bytes, snapshot, options, transport), so outcomes are
   * kept per snapshot, keyed by the query's bytes after its id: a repeated query (the common case:
   * a few names asked again and again) costs a map lookup and a copy instead of a decode and an
   * encode. A new snapshot starts a new memory.
   */
  private cache = new Map<string, DnsOutcome>();
  private cachedFor: DnsSnapshot | undefined;

  private constructor(opts: DnsServerOptions, udp: UdpSocket, tcp: Server) {
    this.opts = opts;
    this.udp = udp;
    this.tcp = tcp;
    udp.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
    // A send to a vanished client fails asynchronously; nothing to do about it.
    udp.on('error', () => {});
    tcp.on('connection', (socket) => this.onConnection(socket));
  }

  /**
   * Binds UDP and TCP on `listen`. Port 0: TCP takes the port UDP got, and if another process holds
   * that TCP port, both try again on a new one (an ephemeral UDP port says nothing about TCP's).
   */
  static async start(opts: DnsServerOptions): Promise<DnsServer> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await DnsServer.bindOnce(opts);
      } catch (err) {
        if (opts.listen.port !== 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 8) {
          throw DnsServer.bindError(opts, err);
        }
      }
    }
  }

  private static bindError(opts: DnsServerOptions, err: unknown): Error {
    const code = (err as NodeJS.ErrnoException).code;
    return new Error(
      code === 'EADDRINUSE'
        ? `cannot listen on --dns ${formatHostPort(opts.listen)}: the port is in use (another agent? choose another --dns, or --dns off)`
        : `cannot listen on --dns ${formatHostPort(opts.listen)}: ${(err as Error).message}`,
    );
  }

  private static async bindOnce(opts: DnsServerOptions): Promise<DnsServer> {
    const udp = createSocket({ type: isIPv6(opts.listen.host) ? 'udp6' : 'udp4' });
    const tcp = createServer({ noDelay: true });
    try {
      udp.bind(opts.listen.port, opts.listen.host);
      await once(udp, 'listening');
      tcp.listen(udp.address().port, opts.listen.host);
      await once(tcp, 'listening');
    } catch (err) {
      udp.close();
      tcp.close();
      throw err;
    }
    return new DnsServer(opts, udp, tcp);
  }

  address(): HostPort {
    const a = this.udp.address();
    return { host: a.address, port: a.port };
  }

  async stop(): Promise<void> {
    for (const socket of this.connections) socket.destroy();
    const closed = once(this.tcp, 'close');
    this.tcp.close();
    await Promise.all([closed, new Promise<void>((resolve) => this.udp.close(() => resolve()))]);
  }

  private answer(query: Buffer, transport: DnsTransport): DnsOutcome {
    this.counters.queries[transport]++;
    const snapshot = this.opts.snapshot();
    if (snapshot !== this.cachedFor || this.cache.size >= CACHE_ENTRIES) {
      this.cache = new Map();
      this.cachedFor = snapshot;
    }
    let outcome: DnsOutcome;
    const key = query.length >= 12 ? transport + query.toString('latin1', 2) : undefined;
    const cached = key === undefined ? undefined : this.cache.get(key);
    if (cached?.kind === 'answer') {
      const response = Buffer.from(cached.response);
      // The id is the only part of the query that does not enter the answer's computation.
      query.copy(response, 0, 0, 2);
      outcome = { ...cached, response };
    } else if (cached !== undefined) {
      outcome = cached;
    } else {
      outcome = answerDns(query, snapshot, this.opts, transport);
      if (key !== undefined) this.cache.set(key, outcome);
    }
    if (outcome.kind === 'drop') {
      this.counters.drops[outcome.reason]++;
    } else {
      this.counters.responses[outcome.rcode] = (this.counters.responses[outcome.rcode] ?? 0) + 1;
      if (outcome.truncated) this.counters.truncated++;
    }
    return outcome;
  }

  private onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    if (msg.length > MAX_UDP_PAYLOAD) {
      this.counters.drops.oversized++;
      return;
    }
    const outcome = this.answer(msg, 'udp');
    if (outcome.kind === 'answer') this.udp.send(outcome.response, rinfo.port, rinfo.address);
  }

  private onConnection(socket: Socket): void {
    if (this.connections.size >= (this.opts.maxTcpConnections ?? DEFAULT_MAX_TCP)) {
      this.counters.drops['tcp-limit']++;
      socket.destroy();
      return;
    }
    this.counters.tcpConnections++;
    this.connections.add(socket);
    const { clock, timers } = this.opts.runtime;
    const idleMs = this.opts.tcpIdleMs ?? DEFAULT_TCP_IDLE_MS;
    let lastActive = clock.now();
    let idle: TimerHandle | undefined;
    const watchIdle = (ms: number) => {
      idle = timers.after(ms, () => {
        const quiet = clock.now() - lastActive;
        if (quiet < idleMs) return watchIdle(idleMs - quiet);
        this.counters.drops['tcp-idle']++;
        socket.destroy();
      });
    };
    watchIdle(idleMs);
    // Bytes of an unfinished message: at most one length prefix plus 64 KiB.
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      lastActive = clock.now();
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        if (pending.length < 2 + length) break;
        const outcome = this.answer(pending.subarray(2, 2 + length), 'tcp');
        pending = pending.subarray(2 + length);
        if (outcome.kind === 'drop') continue;
        const framed = Buffer.allocUnsafe(2 + outcome.response.length);
        framed.writeUInt16BE(outcome.response.length, 0);
        outcome.response.copy(framed, 2);
        socket.write(framed);
        if (socket.writableLength > MAX_TCP_BACKLOG) {
          this.counters.drops['tcp-slow-reader']++;
          socket.destroy();
          return;
        }
      }
    });
    socket.on('error', () => {});
    socket.once('close', () => {
      idle?.cancel();
      this.connections.delete(socket);
    });
  }
}
