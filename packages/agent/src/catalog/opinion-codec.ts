// An opinion update on the wire: the opinions of one observer that changed since its last
// publication, sent on their own gossipsub topic (OPINION_TOPIC) apart from the node's record.
//
// Why apart: an opinion flip is what the mesh-wide verdict waits for, and inside the record it
// costs every agent, on every hop, a decode and verification of the whole record (instances and
// every other opinion: 8-17 KiB in the outlier benchmark, re-sent on each ok/idle/failing
// transition of each host). An update carries only what changed (a few hundred bytes).
//
// Who signed it: the update never leaves gossipsub (anti-entropy repairs opinions through the
// record, which still carries them all), so gossipsub's StrictSign signature by the node key is
// its signature: gossipsub verifies it before the validator runs, and the validator requires the
// publisher to be the peer membership holds for `node`. No second signature to verify per hop.
//
// Layout: UTF-8 JSON of OpinionUpdate. Version: (epoch, seq) from the same counter as the node's
// records, so a record at a later version holds everything an update before it said.

import { type EndpointOpinion, MAX_OPINIONS_PER_UPDATE, nodeNameProblem } from '@vigil/protocol';
import { z } from 'zod';
import { opinionSchema, RECORD_LIMITS, RecordError } from './record-codec.ts';

/** A maximal update: 32 opinions with 8 transitions and long names fit with room to spare. */
export const MAX_OPINION_UPDATE_BYTES = 32 * 1024;

export interface OpinionUpdate {
  readonly node: string;
  readonly epoch: number;
  readonly seq: number;
  readonly opinions: readonly EndpointOpinion[];
}

const safeInt = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const updateSchema = z.object({
  node: z.string().min(1).max(RECORD_LIMITS.nodeNameChars),
  epoch: safeInt,
  seq: safeInt,
  opinions: z.array(opinionSchema).min(1).max(MAX_OPINIONS_PER_UPDATE),
});

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Validates and encodes our own update; throws RecordError naming the problem. */
export function encodeOpinionUpdate(update: OpinionUpdate): Uint8Array {
  const valid = validateOpinionUpdate(update);
  const bytes = utf8.encode(JSON.stringify(valid));
  if (bytes.length > MAX_OPINION_UPDATE_BYTES) {
    throw new RecordError('too-large', `opinion update of ${bytes.length} bytes exceeds ${MAX_OPINION_UPDATE_BYTES}`);
  }
  return bytes;
}

/** Parses and bounds-checks an update from the network; throws RecordError. Authorship is the caller's. */
export function decodeOpinionUpdate(data: Uint8Array): OpinionUpdate {
  if (data.length > MAX_OPINION_UPDATE_BYTES) {
    throw new RecordError('too-large', `opinion update of ${data.length} bytes exceeds ${MAX_OPINION_UPDATE_BYTES}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(utf8Strict.decode(data));
  } catch {
    throw new RecordError('malformed', 'opinion update is not UTF-8 JSON');
  }
  return validateOpinionUpdate(value);
}

function validateOpinionUpdate(value: unknown): OpinionUpdate {
  const parsed = updateSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RecordError(
      'malformed',
      `invalid opinion update: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  const problem = nodeNameProblem(parsed.data.node);
  if (problem !== undefined) {
    throw new RecordError(
      'invalid-name',
      `invalid opinion update: node ${JSON.stringify(parsed.data.node.slice(0, 80))}: ${problem}`,
    );
  }
  return parsed.data;
}
