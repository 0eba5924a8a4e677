// How election groups reach each other: Raft messages tagged with their group, one long-lived
// libp2p stream per peer (`/vigil/election/1`) on the catalog plane's connections, which pnet and
// Noise already authenticate. Frames are length-prefixed (it-length-prefixed, as the catalog sync
// is):
//
//   frame = u8 group-name length ‖ group name (UTF-8) ‖ Raft message (the core's codec)
//
// Delivery is best effort, as Raft expects: a message that finds no open stream waits in a small
// queue while one is opened, and is dropped beyond it; the core retries. A received message must
// name as its sender the member the connection belongs to: no peer can speak for another.
//
// The transport is an interface so the group runner also runs over an in-memory network under a
// VirtualRuntime in tests.

import * as lp from 'it-length-prefixed';
import { pipe } from 'it-pipe';
import type { Uint8ArrayList } from 'uint8arraylist';
import type { Logger } from '../log.ts';
import { type Runtime, timeoutSignal } from '../runtime/index.ts';
import type { RaftMessage } from './raft/types.ts';

export const ELECTION_PROTOCOL = '/vigil/election/1';

/** The largest frame accepted: a full append (256 KiB of entries) plus its envelope. */
export const MAX_ELECTION_FRAME_BYTES = 512 * 1024;

export type Deliver = (group: string, msg: RaftMessage) => void;

export interface ElectionTransport {
  send(group: string, msg: RaftMessage): void;
  /** Called with every well-formed inbound message. */
  onMessage(deliver: Deliver): void;
  stop(): Promise<void>;
}

export interface MessageCodec {
  encode(msg: RaftMessage): Uint8Array;
  /** Throws on anything malformed or out of bounds. */
  decode(bytes: Uint8Array): RaftMessage;
}

/** The part of a libp2p Stream used here. */
export interface ElectionStream extends AsyncIterable<Uint8Array | Uint8ArrayList> {
  send(data: Uint8Array | Uint8ArrayList): boolean;
  close(): Promise<void>;
  abort(err: Error): void;
}

/** What the transport needs from the catalog node (CatalogNode.handleProtocol / openStream). */
export interface StreamHost {
  handleProtocol(
    protocol: string,
    handler: (stream: ElectionStream, node: string) => void,
    limits: { maxInboundStreams: number; maxOutboundStreams: number },
  ): Promise<void>;
  openStream(node: string, protocol: string, signal: AbortSignal): Promise<ElectionStream>;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

export function encodeFrame(group: string, body: Uint8Array): Uint8Array {
  const name = utf8.encode(group);
  if (name.length > 255) throw new RangeError(`group name of ${name.length} bytes`);
  const frame = new Uint8Array(1 + name.length + body.length);
  frame[0] = name.length;
  frame.set(name, 1);
  frame.set(body, 1 + name.length);
  return frame;
}

export function decodeFrame(frame: Uint8Array): { group: string; body: Uint8Array } {
  const len = frame[0];
  if (len === undefined || len === 0 || frame.length < 1 + len) throw new Error('frame shorter than its group name');
  return { group: utf8Strict.decode(frame.subarray(1, 1 + len)), body: frame.subarray(1 + len) };
}

export interface TransportCounters {
  sent: number;
  dropped: number;
  received: number;
  malformed: number;
  impersonation: number;
  openFailures: number;
}

/** Messages queued per peer while its stream opens. */
const QUEUE_LIMIT = 256;
/** After a failed open, wait this long before trying that peer again. */
const REOPEN_BACKOFF_MS = 250;
const OPEN_TIMEOUT_MS = 3000;

interface Outbound {
  stream: ElectionStream | undefined;
  opening: boolean;
  queue: Uint8Array[];
  retryAt: number;
}

export class StreamElectionTransport implements ElectionTransport {
  readonly counters: TransportCounters = {
    sent: 0,
    dropped: 0,
    received: 0,
    malformed: 0,
    impersonation: 0,
    openFailures: 0,
  };
  private readonly peers = new Map<string, Outbound>();
  private readonly inbound = new Set<ElectionStream>();
  private deliver: Deliver = () => {};
  private stopped = false;

  private readonly host: StreamHost;
  private readonly codec: MessageCodec;
  private readonly runtime: Runtime;
  private readonly log: Logger;

  private constructor(host: StreamHost, codec: MessageCodec, runtime: Runtime, log: Logger) {
    this.host = host;
    this.codec = codec;
    this.runtime = runtime;
    this.log = log;
  }

  static async start(
    host: StreamHost,
    codec: MessageCodec,
    /** Backoff and the open deadline: virtual in the simulator. */
    runtime: Runtime,
    log: Logger,
  ): Promise<StreamElectionTransport> {
    const t = new StreamElectionTransport(host, codec, runtime, log);
    await host.handleProtocol(ELECTION_PROTOCOL, (stream, node) => t.accept(stream, node), {
      maxInboundStreams: 4,
      maxOutboundStreams: 4,
    });
    return t;
  }

  onMessage(deliver: Deliver): void {
    this.deliver = deliver;
  }

  send(group: string, msg: RaftMessage): void {
    if (this.stopped) return;
    const frame = lp.encode.single(encodeFrame(group, this.codec.encode(msg))).subarray();
    let out = this.peers.get(msg.to);
    if (out === undefined) {
      out = { stream: undefined, opening: false, queue: [], retryAt: 0 };
      this.peers.set(msg.to, out);
    }
    if (out.stream !== undefined) {
      this.counters.sent++;
      // A full send buffer means the peer is not reading: drop, the core retries. A stream reset
      // before its reader noticed throws: forget it (the next message opens a new one).
      try {
        if (!out.stream.send(frame)) this.counters.dropped++;
      } catch {
        this.counters.dropped++;
        out.stream = undefined;
      }
      return;
    }
    if (out.queue.length >= QUEUE_LIMIT) {
      out.queue.shift();
      this.counters.dropped++;
    }
    out.queue.push(frame);
    this.open(msg.to, out);
  }

  private open(node: string, out: Outbound): void {
    if (out.opening || this.runtime.clock.now() < out.retryAt) return;
    out.opening = true;
    const deadline = timeoutSignal(this.runtime.timers, OPEN_TIMEOUT_MS);
    this.host
      .openStream(node, ELECTION_PROTOCOL, deadline.signal)
      .then((stream) => {
        out.opening = false;
        if (this.stopped) {
          stream.abort(new Error('stopped'));
          return;
        }
        out.stream = stream;
        for (const frame of out.queue.splice(0)) {
          this.counters.sent++;
          stream.send(frame);
        }
        // We never read from our outbound stream; its end (or reset) means it is gone.
        void (async () => {
          try {
            for await (const _ of stream) {
              // the listener sends nothing
            }
          } catch {
            // reset
          }
          if (out.stream === stream) out.stream = undefined;
        })();
      })
      .catch((err: Error) => {
        out.opening = false;
        out.retryAt = this.runtime.clock.now() + REOPEN_BACKOFF_MS;
        this.counters.openFailures++;
        this.counters.dropped += out.queue.length;
        out.queue = [];
        this.log.debug({ peer: node, err: err.message }, 'election: cannot open a stream');
      })
      .finally(deadline.done);
  }

  private accept(stream: ElectionStream, node: string): void {
    if (this.stopped) {
      stream.abort(new Error('stopped'));
      return;
    }
    this.inbound.add(stream);
    pipe(
      stream,
      (src) => lp.decode(src, { maxDataLength: MAX_ELECTION_FRAME_BYTES }),
      async (frames) => {
        for await (const list of frames) {
          let group: string;
          let msg: RaftMessage;
          try {
            const frame = decodeFrame(list.subarray());
            group = frame.group;
            msg = this.codec.decode(frame.body);
          } catch {
            this.counters.malformed++;
            continue;
          }
          if (msg.from !== node) {
            this.counters.impersonation++;
            continue;
          }
          this.counters.received++;
          this.deliver(group, msg);
        }
      },
    )
      .catch((err: Error) => {
        this.counters.malformed++;
        this.log.debug({ peer: node, err: err.message }, 'election: inbound stream closed');
        stream.abort(err);
      })
      .finally(() => this.inbound.delete(stream));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const out of this.peers.values()) out.stream?.abort(new Error('stopped'));
    for (const s of this.inbound) s.abort(new Error('stopped'));
    this.peers.clear();
  }
}

/** An in-memory network for tests: delivery through the caller's scheduler, cuttable links. */
export class MemoryNetwork {
  private readonly nodes = new Map<string, Deliver>();
  private readonly cut = new Set<string>();
  private readonly schedule: (fn: () => void) => void;

  constructor(schedule: (fn: () => void) => void) {
    this.schedule = schedule;
  }

  transport(node: string): ElectionTransport {
    return {
      send: (group, msg) => {
        if (this.cut.has(`${node}>${msg.to}`)) return;
        const copy = structuredClone(msg);
        this.schedule(() => {
          if (!this.cut.has(`${node}>${msg.to}`)) this.nodes.get(msg.to)?.(group, copy);
        });
      },
      onMessage: (deliver) => {
        this.nodes.set(node, deliver);
      },
      stop: async () => {
        this.nodes.delete(node);
      },
    };
  }

  /** Cuts `a` off from every node in `others`, both ways. */
  partition(a: readonly string[], b: readonly string[]): void {
    for (const x of a) for (const y of b) this.cut.add(`${x}>${y}`).add(`${y}>${x}`);
  }

  heal(): void {
    this.cut.clear();
  }
}
