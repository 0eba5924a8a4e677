// The catalog record on the wire: JSON bytes of a NodeRecord inside a signed envelope.
//
// Why the record carries its own signature (and not only gossipsub's StrictSign one):
// gossipsub signs the whole pubsub message (from, seqno, topic, data) in its own protobuf form,
// and the receiver sees that signature only on the live gossip path. Anti-entropy forwards a
// record later, from a third peer, over a plain stream; to check authorship there we would have
// to store the original pubsub message and re-run gossipsub's internal verification. Instead the
// author signs the record bytes with its node key (the same Ed25519 key that is its peer id), and
// the signature travels with the bytes wherever they go: gossip, sync, any relay. Every receiver
// runs the same check on every path: the signature verifies under `record.peerId`, and that peer
// id is the one membership holds for `record.node`. On the gossip path we additionally require
// that the StrictSign publisher (`msg.from`) is that same peer.
//
// Envelope layout (binary, no parsing before the signature is checked):
//   byte 0        ENVELOPE_VERSION (1)
//   bytes 1..64   Ed25519 signature over SIGNING_DOMAIN ‖ recordBytes
//   bytes 65..    recordBytes: UTF-8 JSON of the NodeRecord (exactly what was signed)

import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import type { PrivateKey, PublicKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import {
  instanceNamesProblem,
  MAX_GROUPS_PER_NODE,
  MAX_INSTANCES_PER_NODE,
  MAX_OPINION_TRANSITIONS,
  MAX_OPINIONS_PER_NODE,
  MAX_RECORD_BYTES,
  type NodeRecord,
  nodeNameProblem,
} from '@vigil/protocol';
import { z } from 'zod';

export const ENVELOPE_VERSION = 1;
export const SIGNATURE_BYTES = 64;
export const ENVELOPE_HEADER_BYTES = 1 + SIGNATURE_BYTES;
/** The largest envelope a receiver accepts: a maximal record plus the header. */
export const MAX_ENVELOPE_BYTES = ENVELOPE_HEADER_BYTES + MAX_RECORD_BYTES;
/** Domain separation: this signature can never be mistaken for one made by the node key elsewhere. */
const SIGNING_DOMAIN = new TextEncoder().encode('vigil/catalog/record/1\n');

/** Bounds on individual fields; the whole record is also bounded by MAX_RECORD_BYTES. */
export const RECORD_LIMITS = {
  nodeNameChars: 256,
  peerIdChars: 128,
  stringChars: 1024,
  tagsPerInstance: 256,
  metaPerInstance: 256,
} as const;

const text = (max: number) => z.string().max(max);
const nonEmpty = (max: number) => z.string().min(1).max(max);
const safeInt = (min: number) => z.number().int().min(min).max(Number.MAX_SAFE_INTEGER);

// z.object (not strict): fields a newer agent adds are ignored here and still forwarded intact,
// since the signed bytes travel unchanged.
const instanceSchema = z.object({
  id: nonEmpty(RECORD_LIMITS.stringChars),
  service: nonEmpty(RECORD_LIMITS.stringChars),
  address: nonEmpty(RECORD_LIMITS.stringChars),
  port: z.number().int().min(0).max(65535),
  tags: z.array(text(RECORD_LIMITS.stringChars)).max(RECORD_LIMITS.tagsPerInstance),
  meta: z
    .record(text(RECORD_LIMITS.stringChars), text(RECORD_LIMITS.stringChars))
    .refine((m) => Object.keys(m).length <= RECORD_LIMITS.metaPerInstance, 'too many meta entries'),
  weight: z.number().min(1),
  priority: safeInt(0),
  zone: text(RECORD_LIMITS.stringChars),
  policy: z.enum(['active-passive', 'active-active', 'leader']),
  voters: z.number().int().min(1).max(7).optional(),
  health: z.enum(['passing', 'warning', 'critical']),
  maintenance: z.boolean(),
  flaps: z.array(safeInt(0)).max(MAX_OPINION_TRANSITIONS).optional(),
  recoveredAt: safeInt(0).optional(),
});

const count = safeInt(0);
/** One endpoint opinion: in a record's `opinions` and in an opinion update (opinion-codec.ts). */
export const opinionSchema = z.object({
  node: nonEmpty(RECORD_LIMITS.nodeNameChars),
  id: nonEmpty(RECORD_LIMITS.stringChars),
  service: nonEmpty(RECORD_LIMITS.stringChars),
  ok: count,
  refused: count,
  timeout: count,
  http5xx: count,
  other: count,
  latencyMs: z.number().min(0).max(Number.MAX_SAFE_INTEGER),
  transitions: z
    .array(z.object({ at: safeInt(0), state: z.enum(['failing', 'ok', 'idle']) }))
    .min(1)
    .max(MAX_OPINION_TRANSITIONS),
});

export const nodeRecordSchema = z.object({
  node: nonEmpty(RECORD_LIMITS.nodeNameChars),
  peerId: nonEmpty(RECORD_LIMITS.peerIdChars),
  epoch: safeInt(0),
  seq: safeInt(0),
  instances: z.array(instanceSchema).max(MAX_INSTANCES_PER_NODE),
  opinions: z.array(opinionSchema).max(MAX_OPINIONS_PER_NODE).optional(),
  leads: z
    .array(
      z.object({
        group: nonEmpty(RECORD_LIMITS.stringChars),
        token: safeInt(1),
        term: safeInt(1),
        instance: nonEmpty(RECORD_LIMITS.stringChars).optional(),
      }),
    )
    .max(MAX_GROUPS_PER_NODE)
    .optional(),
  locks: z.array(nonEmpty(RECORD_LIMITS.stringChars)).max(MAX_GROUPS_PER_NODE).optional(),
  bootstraps: z
    .array(
      z.object({
        group: nonEmpty(RECORD_LIMITS.stringChars),
        voters: z.array(nonEmpty(RECORD_LIMITS.nodeNameChars)).min(1).max(7),
      }),
    )
    .max(MAX_GROUPS_PER_NODE)
    .optional(),
});

/** Why a record was refused; each reason has its own counter. */
export type RecordRejection =
  | 'malformed' // not an envelope, not JSON, or fails the schema/bounds
  | 'too-large'
  | 'invalid-name' // a node name, service name, id, tag, meta entry or zone that a registration here could not have
  | 'unknown-node' // membership holds no peer id for record.node (yet): anti-entropy retries later
  | 'wrong-signer' // signed/published by a peer other than the one membership holds for the node
  | 'bad-signature';

export class RecordError extends Error {
  readonly reason: RecordRejection;
  constructor(reason: RecordRejection, message: string) {
    super(message);
    this.name = 'RecordError';
    this.reason = reason;
  }
}

/** A record that parsed and passed its bounds, with the exact envelope bytes to forward. */
export interface SignedRecord {
  readonly record: NodeRecord;
  readonly envelope: Uint8Array;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function signingInput(recordBytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(SIGNING_DOMAIN.length + recordBytes.length);
  out.set(SIGNING_DOMAIN, 0);
  out.set(recordBytes, SIGNING_DOMAIN.length);
  return out;
}

/**
 * Validates a record against the schema and bounds, then its names against the rules a local
 * registration passes (@vigil/protocol names.ts): throws RecordError('malformed' | 'invalid-name').
 */
export function validateRecord(value: unknown): NodeRecord {
  const parsed = nodeRecordSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RecordError('malformed', `invalid record: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  const record = parsed.data;
  const nodeProblem = nodeNameProblem(record.node);
  if (nodeProblem !== undefined) {
    throw new RecordError(
      'invalid-name',
      `invalid record: node ${JSON.stringify(record.node.slice(0, 80))}: ${nodeProblem}`,
    );
  }
  for (const [i, instance] of record.instances.entries()) {
    const problem = instanceNamesProblem(instance);
    if (problem !== undefined) {
      throw new RecordError('invalid-name', `invalid record for ${record.node}: instances[${i}].${problem}`);
    }
  }
  return record;
}

/** Signs a record with the author's key. The key must be the one behind `record.peerId`. */
export async function signRecord(record: NodeRecord, key: PrivateKey): Promise<SignedRecord> {
  const valid = validateRecord(record);
  const recordBytes = utf8.encode(JSON.stringify(valid));
  if (recordBytes.length > MAX_RECORD_BYTES) {
    throw new RecordError(
      'too-large',
      `record for ${record.node} is ${recordBytes.length} bytes, more than ${MAX_RECORD_BYTES}`,
    );
  }
  const signature = await key.sign(signingInput(recordBytes));
  if (signature.length !== SIGNATURE_BYTES) {
    throw new RecordError('bad-signature', `the node key must be Ed25519 (signature of ${signature.length} bytes)`);
  }
  const envelope = new Uint8Array(ENVELOPE_HEADER_BYTES + recordBytes.length);
  envelope[0] = ENVELOPE_VERSION;
  envelope.set(signature, 1);
  envelope.set(recordBytes, ENVELOPE_HEADER_BYTES);
  return { record: valid, envelope };
}

/** Parses and bounds-checks an envelope. Does NOT check the signature: see verifyEnvelope. */
export function decodeEnvelope(envelope: Uint8Array): SignedRecord {
  if (envelope.length > MAX_ENVELOPE_BYTES) {
    throw new RecordError('too-large', `envelope of ${envelope.length} bytes exceeds ${MAX_ENVELOPE_BYTES}`);
  }
  if (envelope.length <= ENVELOPE_HEADER_BYTES || envelope[0] !== ENVELOPE_VERSION) {
    throw new RecordError('malformed', 'not a version-1 record envelope');
  }
  let value: unknown;
  try {
    value = JSON.parse(utf8Strict.decode(envelope.subarray(ENVELOPE_HEADER_BYTES)));
  } catch {
    throw new RecordError('malformed', 'record is not UTF-8 JSON');
  }
  return { record: validateRecord(value), envelope };
}

/** The public key behind a peer id string; only Ed25519 ids (which embed their key) qualify. */
export function publicKeyOf(peerId: string): PublicKey {
  let key: PublicKey | undefined;
  try {
    key = peerIdFromString(peerId).publicKey;
  } catch {
    throw new RecordError('malformed', `record peerId ${JSON.stringify(peerId.slice(0, 80))} is not a peer id`);
  }
  if (key?.type !== 'Ed25519') {
    throw new RecordError('malformed', `record peerId ${peerId} is not an Ed25519 peer id`);
  }
  return key;
}

/**
 * Node key objects of the signers already checked, by peer id. @libp2p/crypto's verify builds one
 * from JWK on every call (createPublicKey: most of a record check's crypto time in CPU profiles of
 * bench:outlier), while a cluster has few signers and every agent checks each of their records.
 * An Ed25519 peer id embeds its key, so an entry is a pure function of its key: nothing an attacker
 * sends can put a wrong key here. Bounded; cleared when full (a churning cluster rebuilds them).
 */
const verifiers = new Map<string, KeyObject>();
const MAX_VERIFIERS = 1024;

function verifierOf(peerId: string): KeyObject {
  let key = verifiers.get(peerId);
  if (key === undefined) {
    const x = Buffer.from(publicKeyOf(peerId).raw).toString('base64url');
    key = createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', x } });
    if (verifiers.size >= MAX_VERIFIERS) verifiers.clear();
    verifiers.set(peerId, key);
  }
  return key;
}

/**
 * The full acceptance check, the same on every path: `expectedPeerId` is what membership holds
 * for `record.node`; the record must name it and carry a valid signature by it.
 */
export async function verifyEnvelope(signed: SignedRecord, expectedPeerId: string | undefined): Promise<void> {
  const { record, envelope } = signed;
  if (expectedPeerId === undefined) {
    throw new RecordError('unknown-node', `membership holds no peer id for node ${record.node}`);
  }
  if (record.peerId !== expectedPeerId) {
    throw new RecordError(
      'wrong-signer',
      `record for ${record.node} names peer ${record.peerId}, membership holds ${expectedPeerId}`,
    );
  }
  const ok = verify(
    null,
    signingInput(envelope.subarray(ENVELOPE_HEADER_BYTES)),
    verifierOf(record.peerId),
    envelope.subarray(1, ENVELOPE_HEADER_BYTES),
  );
  if (!ok) throw new RecordError('bad-signature', `record for ${record.node} has a bad signature`);
}
