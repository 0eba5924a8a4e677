// What travels on `/vigil/election-forward/1`: one request from an agent that does not lead a
// group to the agent that does, and that agent's answer. UTF-8 JSON, one length-prefixed frame
// each way. Everything decoded here came from the network: each field is bounded and checked
// (group names as the HTTP API checks them, keys and values within the KV store's limits), and a
// frame that fails is refused whole with a reason the caller counts.

import { z } from 'zod';
import { RECORD_LIMITS } from '../catalog/record-codec.ts';
import { GROUP_NAME } from './group-storage.ts';
import { DEFAULT_KV_LIMITS } from './kv/kv-store.ts';
import type { KvCommand } from './kv/types.ts';

/** A base64 value of the largest KV value, plus the JSON around it. */
export const MAX_FORWARD_FRAME_BYTES = Math.ceil((DEFAULT_KV_LIMITS.maxValueBytes * 4) / 3) + 16 * 1024;
/** The longest a forwarded request may wait for its outcome on the leader. */
export const MAX_FORWARD_TIMEOUT_MS = 60_000;

/** One operation on a group, as the HTTP API takes it (only the leader can carry it out). */
export type GroupOp =
  | { readonly op: 'write'; readonly cmd: KvCommand }
  | { readonly op: 'read'; readonly key: string; readonly stale: boolean }
  | { readonly op: 'step-down'; readonly to?: string | undefined };

export type ForwardRequest = GroupOp & { readonly group: string; readonly timeoutMs: number };

/** The outcome of an operation, as the HTTP API answers it: passed back unchanged by a forwarder. */
export interface OpResponse {
  readonly status: number;
  readonly body: Record<string, unknown>;
  /** The leader as the serving agent knows it (X-Vigil-Leader). */
  readonly leader?: string | undefined;
  /** A read's modify index (X-Vigil-Index). */
  readonly index?: number | undefined;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

const group = z.string().regex(GROUP_NAME);
const node = z.string().min(1).max(RECORD_LIMITS.nodeNameChars);
const key = z
  .string()
  .min(1)
  .refine((k) => utf8.encode(k).length <= DEFAULT_KV_LIMITS.maxKeyBytes, 'key over maxKeyBytes');
const index = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const value = z
  .string()
  .max(Math.ceil((DEFAULT_KV_LIMITS.maxValueBytes * 4) / 3) + 4)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'value is not base64');

const common = { v: z.literal(1), group, timeoutMs: z.number().int().min(1).max(MAX_FORWARD_TIMEOUT_MS) };

const requestSchema = z.discriminatedUnion('op', [
  z.strictObject({ ...common, op: z.literal('put'), key, value }),
  z.strictObject({ ...common, op: z.literal('cas'), key, value, index }),
  z.strictObject({ ...common, op: z.literal('delete'), key }),
  z.strictObject({ ...common, op: z.literal('cas-delete'), key, index }),
  z.strictObject({ ...common, op: z.literal('read'), key, stale: z.boolean() }),
  z.strictObject({ ...common, op: z.literal('step-down'), to: node.optional() }),
]);

const responseSchema = z.strictObject({
  v: z.literal(1),
  status: z.number().int().min(200).max(599),
  body: z.record(z.string(), z.unknown()),
  leader: node.optional(),
  index: index.optional(),
});

/** A frame that is not a well-formed request or response; `reason` is what the caller counts. */
export class ForwardCodecError extends Error {
  override readonly name = 'ForwardCodecError';
}

export function encodeForwardRequest(req: ForwardRequest): Uint8Array {
  const head = { v: 1, group: req.group, timeoutMs: req.timeoutMs };
  let wire: Record<string, unknown>;
  if (req.op === 'read') wire = { ...head, op: 'read', key: req.key, stale: req.stale };
  else if (req.op === 'step-down') wire = { ...head, op: 'step-down', ...(req.to ? { to: req.to } : {}) };
  else {
    const c = req.cmd;
    wire = { ...head, op: c.op, key: c.key };
    if (c.op === 'put' || c.op === 'cas') wire.value = Buffer.from(c.value).toString('base64');
    if (c.op === 'cas' || c.op === 'cas-delete') wire.index = c.index;
  }
  return utf8.encode(JSON.stringify(wire));
}

function parseJson(bytes: Uint8Array): unknown {
  if (bytes.length > MAX_FORWARD_FRAME_BYTES) throw new ForwardCodecError(`frame of ${bytes.length} bytes`);
  try {
    return JSON.parse(utf8Strict.decode(bytes));
  } catch {
    throw new ForwardCodecError('not UTF-8 JSON');
  }
}

function issue(err: z.ZodError): string {
  const first = err.issues[0];
  return first ? `${first.path.join('.') || 'frame'}: ${first.message}` : 'invalid';
}

export function decodeForwardRequest(bytes: Uint8Array): ForwardRequest {
  const parsed = requestSchema.safeParse(parseJson(bytes));
  if (!parsed.success) throw new ForwardCodecError(issue(parsed.error));
  const r = parsed.data;
  const head = { group: r.group, timeoutMs: r.timeoutMs };
  switch (r.op) {
    case 'read':
      return { ...head, op: 'read', key: r.key, stale: r.stale };
    case 'step-down':
      return { ...head, op: 'step-down', ...(r.to ? { to: r.to } : {}) };
    case 'put':
      return { ...head, op: 'write', cmd: { op: 'put', key: r.key, value: base64(r.value) } };
    case 'cas':
      return { ...head, op: 'write', cmd: { op: 'cas', key: r.key, value: base64(r.value), index: r.index } };
    case 'delete':
      return { ...head, op: 'write', cmd: { op: 'delete', key: r.key } };
    case 'cas-delete':
      return { ...head, op: 'write', cmd: { op: 'cas-delete', key: r.key, index: r.index } };
  }
}

function base64(text: string): Uint8Array {
  const out = new Uint8Array(Buffer.from(text, 'base64'));
  if (out.length > DEFAULT_KV_LIMITS.maxValueBytes) throw new ForwardCodecError('value over maxValueBytes');
  return out;
}

export function encodeForwardResponse(res: OpResponse): Uint8Array {
  const wire = {
    v: 1,
    status: res.status,
    body: res.body,
    ...(res.leader ? { leader: res.leader } : {}),
    ...(res.index !== undefined ? { index: res.index } : {}),
  };
  return utf8.encode(JSON.stringify(wire));
}

export function decodeForwardResponse(bytes: Uint8Array): OpResponse {
  const parsed = responseSchema.safeParse(parseJson(bytes));
  if (!parsed.success) throw new ForwardCodecError(issue(parsed.error));
  const { status, body, leader, index: i } = parsed.data;
  return { status, body, ...(leader ? { leader } : {}), ...(i !== undefined ? { index: i } : {}) };
}
