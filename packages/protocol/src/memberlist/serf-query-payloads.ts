// What travels inside Serf's queries (serf/query.go, serf/internal_query.go, serf/messages.go):
// query filters, and the key-management requests and responses behind `serf keys`. Speaking these
// lets `serf keys -install/-use/-remove/-list` run against a cluster with Vigil agents in it, and
// `vigil keys` against Serf agents.

import { DecodeError } from './decode-error.ts';
import {
  arrayField,
  asStruct,
  boolField,
  bytesField,
  intField,
  stringField,
  stringValue,
  uintField,
} from './go-struct.ts';
import { decodeMsgpack, GoMsgpackWriter } from './msgpack-go.ts';
import { SerfMessageType } from './serf-messages.ts';

/** Serf's internal queries start with this; they are answered by the agent, never by a handler. */
export const SERF_INTERNAL_QUERY_PREFIX = '_serf_';

export const SerfKeyQuery = {
  install: '_serf_install-key',
  use: '_serf_use-key',
  remove: '_serf_remove-key',
  list: '_serf_list-keys',
} as const;

export type SerfQueryFilter =
  | { readonly type: 'nodes'; readonly nodes: readonly string[] }
  | { readonly type: 'tag'; readonly tag: string; readonly expr: string };

const FILTER_NODES = 0;
const FILTER_TAG = 1;

export function encodeQueryFilter(filter: SerfQueryFilter): Uint8Array {
  const w = new GoMsgpackWriter();
  if (filter.type === 'nodes') {
    w.byte(FILTER_NODES).arrayHeader(filter.nodes.length);
    for (const n of filter.nodes) w.str(n);
  } else {
    w.byte(FILTER_TAG).struct({ Tag: (w) => w.str(filter.tag), Expr: (w) => w.str(filter.expr) });
  }
  return w.finish();
}

/** Serf drops a query whose filter it cannot read; so do we (the caller counts it). */
export function decodeQueryFilter(buf: Uint8Array): SerfQueryFilter {
  const type = buf[0];
  if (type === FILTER_NODES) {
    const { value } = decodeMsgpack(buf, 1);
    if (!Array.isArray(value)) throw new DecodeError('malformed', 'node filter: expected an array');
    return { type: 'nodes', nodes: value.map((v, i) => stringValue(v, `nodes[${i}]`)) };
  }
  if (type === FILTER_TAG) {
    const s = asStruct(decodeMsgpack(buf, 1).value, 'tag filter');
    return { type: 'tag', tag: stringField(s, 'Tag'), expr: stringField(s, 'Expr') };
  }
  throw new DecodeError('malformed', `unknown query filter type ${type}`);
}

/** keyRequest: the payload of install/use/remove-key queries. */
export function encodeKeyRequest(key: Uint8Array): Uint8Array {
  return new GoMsgpackWriter()
    .byte(SerfMessageType.keyRequest)
    .struct({ Key: (w) => w.raw(key) })
    .finish();
}

export function decodeKeyRequest(buf: Uint8Array): Uint8Array {
  if (buf[0] !== SerfMessageType.keyRequest) throw new DecodeError('malformed', 'not a key request');
  return bytesField(asStruct(decodeMsgpack(buf, 1).value, 'key request'), 'Key');
}

/** nodeKeyResponse: one member's answer to a key query. */
export interface KeyResponse {
  readonly result: boolean;
  readonly message: string;
  /** Installed keys, base64; only for list-keys. */
  readonly keys: readonly string[];
  /** The primary key, base64 (Serf 0.10+ sends it; 0.9 does not). */
  readonly primaryKey?: string;
}

export function encodeKeyResponse(r: KeyResponse): Uint8Array {
  return new GoMsgpackWriter()
    .byte(SerfMessageType.keyResponse)
    .struct({
      Result: (w) => w.bool(r.result),
      Message: (w) => w.str(r.message),
      Keys: (w) => w.sliceOrNil(r.keys, (w, k) => w.str(k)),
      PrimaryKey: (w) => w.str(r.primaryKey ?? ''),
    })
    .finish();
}

export function decodeKeyResponse(buf: Uint8Array): KeyResponse {
  if (buf[0] !== SerfMessageType.keyResponse) throw new DecodeError('malformed', 'not a key response');
  const s = asStruct(decodeMsgpack(buf, 1).value, 'key response');
  const primary = stringField(s, 'PrimaryKey');
  return {
    result: boolField(s, 'Result'),
    message: stringField(s, 'Message'),
    keys: arrayField(s, 'Keys').map((v, i) => stringValue(v, `Keys[${i}]`)),
    ...(primary !== '' ? { primaryKey: primary } : {}),
  };
}

/** Serf's MemberStatus. */
export const SerfMemberStatus = { none: 0, alive: 1, leaving: 2, left: 3, failed: 4 } as const;

/** The member a `_serf_conflict` answer describes (Serf's Member struct). */
export interface SerfMemberInfo {
  readonly name: string;
  readonly addr: Uint8Array;
  readonly port: number;
  readonly tags: Readonly<Record<string, string>>;
  readonly status: number;
  /** [min, max, cur] of the memberlist protocol and of the delegate (Serf) protocol. */
  readonly protocol: readonly [number, number, number];
  readonly delegate: readonly [number, number, number];
}

/**
 * The answer to a name-conflict query: where we believe the named member is, or nil when we do
 * not know it (Serf encodes a nil *Member the same way).
 */
export function encodeConflictResponse(m: SerfMemberInfo | undefined): Uint8Array {
  const w = new GoMsgpackWriter().byte(SerfMessageType.conflictResponse);
  if (!m) return w.nil().finish();
  return w
    .struct({
      Name: (w) => w.str(m.name),
      Addr: (w) => w.raw(m.addr),
      Port: (w) => w.uint(m.port),
      Tags: (w) => {
        const keys = Object.keys(m.tags).sort();
        w.mapHeader(keys.length);
        for (const k of keys) w.str(k).str(m.tags[k]!);
      },
      Status: (w) => w.int(m.status),
      ProtocolMin: (w) => w.uint(m.protocol[0]),
      ProtocolMax: (w) => w.uint(m.protocol[1]),
      ProtocolCur: (w) => w.uint(m.protocol[2]),
      DelegateMin: (w) => w.uint(m.delegate[0]),
      DelegateMax: (w) => w.uint(m.delegate[1]),
      DelegateCur: (w) => w.uint(m.delegate[2]),
    })
    .finish();
}

export function decodeConflictResponse(buf: Uint8Array): SerfMemberInfo | undefined {
  if (buf[0] !== SerfMessageType.conflictResponse) throw new DecodeError('malformed', 'not a conflict response');
  const { value } = decodeMsgpack(buf, 1);
  if (value === null) return undefined;
  const s = asStruct(value, 'Member');
  const rawTags = s.get('Tags');
  const tags: Record<string, string> = {};
  if (rawTags instanceof Map) for (const [k, v] of rawTags) tags[k] = stringValue(v, `Tags[${k}]`);
  return {
    name: stringField(s, 'Name'),
    addr: bytesField(s, 'Addr'),
    port: uintField(s, 'Port', 16),
    tags,
    status: intField(s, 'Status'),
    protocol: [uintField(s, 'ProtocolMin', 8), uintField(s, 'ProtocolMax', 8), uintField(s, 'ProtocolCur', 8)],
    delegate: [uintField(s, 'DelegateMin', 8), uintField(s, 'DelegateMax', 8), uintField(s, 'DelegateCur', 8)],
  };
}
