// Anti-entropy over a libp2p stream, length-prefixed frames through it-pipe. The exchange is
// symmetric, so the dialer and the listener run the same code.
//
// `/vigil/catalog-sync/2` (current):
//   each side sends   SUMMARY (16 bytes: sha256 of its sorted digest, truncated)
//   each side reads the other's SUMMARY. Equal (the idle case): each half-closes; done, one round
//   trip of ~20 bytes each way instead of a digest of every node. Different: the v1 exchange below
//   follows on the same stream. Both sides compare the same two hashes, so they always agree.
// `/vigil/catalog-sync/1` (still served and dialled as a fallback, so agents of an older release
// keep syncing during a rolling upgrade; multistream-select picks /2 when both sides have it):
//   each side sends   DIGEST  (node -> epoch, seq for every record it holds)
//   each side waits for the other's DIGEST, then sends RECORD frames for whatever the other
//   side lacks or holds older, then half-closes its write end.
//   each side reads   DIGEST, then RECORD frames until the other side's half-close.
//
// One round trip plus the records (v2 on a mismatch: two). Every received record goes through the
// same acceptance check as gossip (signature by the peer id membership holds for the record's
// node), done by the caller's `accept` callback. Anything that is not a well-formed frame in the
// right place closes the stream (SyncProtocolError); the agent only counts it.
//
// Frame = 1 type byte + payload:
//   0x01 DIGEST   UTF-8 JSON [[node, epoch, seq], ...]
//   0x02 RECORD   a record envelope (record-codec.ts)
//   0x03 SUMMARY  16 bytes, digestSummary() (v2 only, first frame)

import type { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import * as lp from 'it-length-prefixed';
import { pipe } from 'it-pipe';
import { Uint8ArrayList } from 'uint8arraylist';
import { z } from 'zod';
import { decodeEnvelope, MAX_ENVELOPE_BYTES, RECORD_LIMITS, RecordError, type SignedRecord } from './record-codec.ts';
import type { DigestEntry } from './record-store.ts';

/** The first protocol: digests both ways on every exchange. */
export const SYNC_PROTOCOL = '/vigil/catalog-sync/1';
/** A summary hash first; digests only when the summaries differ. */
export const SYNC_PROTOCOL_V2 = '/vigil/catalog-sync/2';
/** What we serve and dial, preferred first. */
export const SYNC_PROTOCOLS: readonly string[] = [SYNC_PROTOCOL_V2, SYNC_PROTOCOL];

const FRAME_DIGEST = 0x01;
const FRAME_RECORD = 0x02;
const FRAME_SUMMARY = 0x03;
const SUMMARY_BYTES = 16;

/** Bounds on one exchange. */
export interface SyncLimits {
  /** Records and digest entries one side may send in one exchange. */
  readonly maxRecords: number;
  /** Largest frame we decode (a digest of maxRecords entries, or one maximal record). */
  readonly maxFrameBytes: number;
}

export const DEFAULT_SYNC_LIMITS: SyncLimits = {
  maxRecords: 4096,
  // a maximal record envelope (256 KiB + 65) or a digest of 4096 long-named nodes, whichever is larger
  maxFrameBytes: Math.max(1 + MAX_ENVELOPE_BYTES, 4096 * (RECORD_LIMITS.nodeNameChars + 48)),
};

/** The other side broke the protocol (bad frame, wrong order, too much). The stream is reset. */
export class SyncProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SyncProtocolError';
  }
}

/** What one side of an exchange provides. */
export interface SyncParty {
  digest(): DigestEntry[];
  /** Records the holder of `digest` lacks; computed after the other side's digest arrives. */
  missingFrom(digest: ReadonlyMap<string, DigestEntry>): SignedRecord[];
  /**
   * Applies a received record (parsed and bounded, signature not yet checked). Resolves to whether
   * the store changed; must not throw for a rejected record (the caller counts it).
   */
  accept(signed: SignedRecord): Promise<boolean>;
  /**
   * A well-formed record whose names break the rules (RecordError 'invalid-name'): counted and
   * skipped, not a broken stream, so one such record does not cost the peer the rest of the sync.
   */
  refused(err: RecordError): void;
}

export interface SyncResult {
  readonly sent: number;
  readonly received: number;
  readonly accepted: number;
}

/** The part of a libp2p 3 Stream this module uses (a Stream is AsyncIterable of its chunks). */
export interface SyncStream extends AsyncIterable<Uint8Array | Uint8ArrayList> {
  /** The negotiated protocol id; a stream without one (the in-memory transport) speaks the newest. */
  readonly protocol?: string;
  send(data: Uint8Array | Uint8ArrayList): boolean;
  onDrain(options?: { signal?: AbortSignal }): Promise<void>;
  close(options?: { signal?: AbortSignal }): Promise<void>;
  abort(err: Error): void;
}

const digestSchema = (max: number) =>
  z
    .array(
      z.tuple([
        z.string().min(1).max(RECORD_LIMITS.nodeNameChars),
        z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
        z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
      ]),
    )
    .max(max);

export function encodeDigestFrame(entries: readonly DigestEntry[]): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(entries.map((e) => [e.node, e.epoch, e.seq])));
  const frame = new Uint8Array(1 + json.length);
  frame[0] = FRAME_DIGEST;
  frame.set(json, 1);
  return frame;
}

/**
 * 16 bytes of sha256 over the digest sorted by node (UTF-16 code units, no locale), as the JSON a
 * DIGEST frame carries: two stores with the same versions of the same nodes have the same summary
 * whatever order they hold them in. 128 bits: a collision would need 2^64 digests.
 */
export function digestSummary(entries: readonly DigestEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  const json = JSON.stringify(sorted.map((e) => [e.node, e.epoch, e.seq]));
  return createHash('sha256').update(json).digest().subarray(0, SUMMARY_BYTES);
}

export function encodeSummaryFrame(summary: Uint8Array): Uint8Array {
  const frame = new Uint8Array(1 + summary.length);
  frame[0] = FRAME_SUMMARY;
  frame.set(summary, 1);
  return frame;
}

export function encodeRecordFrame(envelope: Uint8Array): Uint8ArrayList {
  return new Uint8ArrayList(Uint8Array.of(FRAME_RECORD), envelope);
}

function decodeDigest(payload: Uint8Array, limits: SyncLimits): Map<string, DigestEntry> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    throw new SyncProtocolError('digest is not UTF-8 JSON');
  }
  const parsed = digestSchema(limits.maxRecords).safeParse(value);
  if (!parsed.success) throw new SyncProtocolError(`invalid digest: ${parsed.error.issues[0]?.message}`);
  return new Map(parsed.data.map(([node, epoch, seq]) => [node, { node, epoch, seq }]));
}

/**
 * it-pipe sink writing frames into a libp2p 3 stream, each length-prefixed in ONE send: yamux makes
 * every send a frame of its own (12-byte header, Noise's 18 bytes) and answers each with a
 * window-update frame, and lp.encode() would yield the prefix, the type byte and the payload
 * apart. Honours backpressure, then half-closes.
 */
function toStream(stream: SyncStream, signal: AbortSignal) {
  return async (source: AsyncIterable<Uint8Array | Uint8ArrayList>): Promise<void> => {
    for await (const frame of source) {
      if (!stream.send(lp.encode.single(frame))) await stream.onDrain({ signal });
    }
    await stream.close({ signal });
  };
}

/**
 * Runs one exchange on an open stream (either side). Resolves when both directions are done;
 * rejects (and resets the stream) on a protocol violation, a stream error or `signal`.
 */
export async function runSyncExchange(
  stream: SyncStream,
  party: SyncParty,
  signal: AbortSignal,
  limits: SyncLimits = DEFAULT_SYNC_LIMITS,
): Promise<SyncResult> {
  let sent = 0;
  let received = 0;
  let accepted = 0;
  const theirDigest = Promise.withResolvers<ReadonlyMap<string, DigestEntry>>();
  // The writer awaits this; if the reader fails first, the rejection is handled by the reader's error.
  theirDigest.promise.catch(() => {});

  // v2: whether the two summaries matched (then nothing else is sent either way).
  const v2 = stream.protocol !== SYNC_PROTOCOL;
  const mySummary = v2 ? digestSummary(party.digest().slice(0, limits.maxRecords)) : undefined;
  const summariesMatch = Promise.withResolvers<boolean>();
  summariesMatch.promise.catch(() => {});

  async function* outgoing(): AsyncGenerator<Uint8Array | Uint8ArrayList> {
    if (mySummary !== undefined) {
      yield encodeSummaryFrame(mySummary);
      if (await summariesMatch.promise) return;
    }
    yield encodeDigestFrame(party.digest().slice(0, limits.maxRecords));
    const digest = await theirDigest.promise;
    for (const signed of party.missingFrom(digest).slice(0, limits.maxRecords)) {
      sent++;
      yield encodeRecordFrame(signed.envelope);
    }
  }

  async function incoming(frames: AsyncIterable<Uint8ArrayList>): Promise<void> {
    let gotSummary = mySummary === undefined;
    let same = false;
    let gotDigest = false;
    for await (const list of frames) {
      const frame = list.subarray();
      const type = frame[0];
      if (!gotSummary) {
        if (type !== FRAME_SUMMARY || frame.length !== 1 + SUMMARY_BYTES) {
          throw new SyncProtocolError('the first frame must be a summary');
        }
        same = mySummary?.equals(frame.subarray(1)) === true;
        summariesMatch.resolve(same);
        gotSummary = true;
        continue;
      }
      if (same) throw new SyncProtocolError('a frame after matching summaries');
      if (!gotDigest) {
        if (type !== FRAME_DIGEST) throw new SyncProtocolError('the first frame must be a digest');
        theirDigest.resolve(decodeDigest(frame.subarray(1), limits));
        gotDigest = true;
        continue;
      }
      if (type !== FRAME_RECORD) throw new SyncProtocolError(`unexpected frame type ${type}`);
      if (++received > limits.maxRecords) throw new SyncProtocolError(`more than ${limits.maxRecords} records`);
      let signed: SignedRecord;
      try {
        signed = decodeEnvelope(frame.subarray(1));
      } catch (err) {
        if (err instanceof RecordError && err.reason === 'invalid-name') {
          party.refused(err);
          continue;
        }
        throw new SyncProtocolError(`bad record frame: ${(err as Error).message}`);
      }
      if (await party.accept(signed)) accepted++;
    }
    if (!gotSummary) throw new SyncProtocolError('the stream ended before the summary');
    if (!same && !gotDigest) throw new SyncProtocolError('the stream ended before the digest');
  }

  const onAbort = () => {
    const reason = signal.reason instanceof Error ? signal.reason : new Error('sync aborted');
    theirDigest.reject(reason);
    summariesMatch.reject(reason);
    stream.abort(reason);
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.all([
      pipe(outgoing(), toStream(stream, signal)),
      pipe(
        stream,
        (src) => lp.decode(src, { maxDataLength: limits.maxFrameBytes }),
        async (frames) => {
          try {
            await incoming(frames);
          } catch (err) {
            theirDigest.reject(err as Error);
            summariesMatch.reject(err as Error);
            throw err;
          }
        },
      ),
    ]);
  } catch (err) {
    const error = isFramingError(err) ? new SyncProtocolError((err as Error).message) : (err as Error);
    stream.abort(error);
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  return { sent, received, accepted };
}

/** it-length-prefixed's own errors (bad varint, frame over the limit) are protocol violations too. */
function isFramingError(err: unknown): boolean {
  const name = (err as Error | undefined)?.name ?? '';
  return [
    'InvalidDataLengthError',
    'InvalidDataLengthLengthError',
    'InvalidMessageLengthError',
    'UnexpectedEOFError',
  ].includes(name);
}
