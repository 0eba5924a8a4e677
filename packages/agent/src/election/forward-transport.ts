// Forwarding a group operation to its leader's agent: `/vigil/election-forward/1`, one libp2p
// stream per request on the catalog plane's connections (pnet and Noise authenticate the peer, as
// for Raft messages). The forwarder sends one request frame and half-closes; the leader's agent
// answers one response frame and closes. Both frames go through forward-codec.ts.
//
// The forwarder must know whether its request may have been carried out: a write whose request
// left this agent and whose answer never came has an unknown outcome, and is never retried.
// ForwardError.sent says which case a failure is.

import * as lp from 'it-length-prefixed';
import type { Uint8ArrayList } from 'uint8arraylist';
import type { Logger } from '../log.ts';
import { type Runtime, timeoutSignal } from '../runtime/index.ts';
import {
  decodeForwardRequest,
  decodeForwardResponse,
  encodeForwardRequest,
  encodeForwardResponse,
  type ForwardRequest,
  MAX_FORWARD_FRAME_BYTES,
  type OpResponse,
} from './forward-codec.ts';
import type { ElectionStream, StreamHost } from './transport.ts';

export const FORWARD_PROTOCOL = '/vigil/election-forward/1';

/** Requests served at once per connection: a forwarder waits on a commit, so a few are in flight. */
const MAX_INBOUND_STREAMS = 32;
/** How long an inbound stream may take to deliver its one request frame. */
const REQUEST_WAIT_MS = 5000;

/** A forward that failed; `sent`: the request may have reached the leader (outcome unknown). */
export class ForwardError extends Error {
  override readonly name = 'ForwardError';
  readonly sent: boolean;
  constructor(message: string, sent: boolean) {
    super(message);
    this.sent = sent;
  }
}

/** Serves a request that arrived from `from` (the leader's side). Must not forward it again. */
export type ForwardHandler = (req: ForwardRequest, from: string) => Promise<OpResponse>;

export interface ForwardTransport {
  /** Sends `req` to `node` and resolves with its answer; rejects with a ForwardError. */
  request(node: string, req: ForwardRequest, signal: AbortSignal): Promise<OpResponse>;
  stop(): Promise<void>;
}

export interface ForwardCounters {
  forwarded: number;
  failed: number;
  served: number;
  malformed: number;
}

/** Reads exactly one frame from a stream; undefined when the stream ends first. */
async function readOne(stream: ElectionStream): Promise<Uint8Array | undefined> {
  const frames = lp.decode(stream as AsyncIterable<Uint8Array | Uint8ArrayList>, {
    maxDataLength: MAX_FORWARD_FRAME_BYTES,
  });
  for await (const frame of frames) return frame.subarray();
  return undefined;
}

export class StreamForwardTransport implements ForwardTransport {
  readonly counters: ForwardCounters = { forwarded: 0, failed: 0, served: 0, malformed: 0 };
  private readonly open = new Set<ElectionStream>();
  private stopped = false;
  private readonly host: StreamHost;
  private readonly log: Logger;
  private readonly handler: ForwardHandler;
  private readonly runtime: Runtime;

  private constructor(host: StreamHost, handler: ForwardHandler, runtime: Runtime, log: Logger) {
    this.host = host;
    this.handler = handler;
    this.runtime = runtime;
    this.log = log;
  }

  /** `runtime` times an idle inbound stream out (virtual time in the simulator). */
  static async start(
    host: StreamHost,
    handler: ForwardHandler,
    runtime: Runtime,
    log: Logger,
  ): Promise<StreamForwardTransport> {
    const t = new StreamForwardTransport(host, handler, runtime, log);
    await host.handleProtocol(FORWARD_PROTOCOL, (stream, node) => void t.serve(stream, node), {
      maxInboundStreams: MAX_INBOUND_STREAMS,
      maxOutboundStreams: MAX_INBOUND_STREAMS,
    });
    return t;
  }

  async request(node: string, req: ForwardRequest, signal: AbortSignal): Promise<OpResponse> {
    if (this.stopped) throw new ForwardError('the agent is stopping', false);
    let stream: ElectionStream;
    try {
      stream = await this.host.openStream(node, FORWARD_PROTOCOL, signal);
    } catch (err) {
      this.counters.failed++;
      throw new ForwardError(`cannot reach ${node}: ${(err as Error).message}`, false);
    }
    this.open.add(stream);
    const onAbort = () => stream.abort(new Error('deadline passed'));
    signal.addEventListener('abort', onAbort, { once: true });
    // Listen before sending: an answer that arrived with no reader would be lost.
    const answer = readOne(stream);
    answer.catch(() => {});
    try {
      stream.send(lp.encode.single(encodeForwardRequest(req)));
      this.counters.forwarded++;
      await stream.close();
      const frame = await answer;
      if (frame === undefined) throw new Error('the stream ended without an answer');
      return decodeForwardResponse(frame);
    } catch (err) {
      this.counters.failed++;
      stream.abort(err as Error);
      const why = signal.aborted ? 'no answer before the deadline' : (err as Error).message;
      throw new ForwardError(`forwarded to ${node}, ${why}`, true);
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.open.delete(stream);
    }
  }

  private async serve(stream: ElectionStream, from: string): Promise<void> {
    if (this.stopped) {
      stream.abort(new Error('stopped'));
      return;
    }
    this.open.add(stream);
    // A peer that opens a stream and sends nothing must not hold one of the few slots for long.
    const idle = timeoutSignal(this.runtime.timers, REQUEST_WAIT_MS);
    idle.signal.addEventListener('abort', () => stream.abort(new Error('no request in time')), { once: true });
    try {
      let req: ForwardRequest;
      try {
        const frame = await readOne(stream);
        idle.done();
        if (frame === undefined) throw new Error('no request');
        req = decodeForwardRequest(frame);
      } catch (err) {
        this.counters.malformed++;
        this.log.debug({ peer: from, err: (err as Error).message }, 'election: malformed forward dropped');
        stream.abort(err as Error);
        return;
      }
      this.counters.served++;
      const res = await this.handler(req, from);
      stream.send(lp.encode.single(encodeForwardResponse(res)));
      await stream.close();
    } catch (err) {
      stream.abort(err as Error);
    } finally {
      idle.done();
      this.open.delete(stream);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.open) s.abort(new Error('stopped'));
    this.open.clear();
  }
}
