// Serf's own messages, carried as memberlist user messages and as the push/pull user state
// (serf/messages.go): [serf type byte][msgpack body]. Enough to take part in a Serf cluster:
// join/leave intents with their Lamport times, the push/pull clock exchange, and queries with their
// responses and relays (Serf's internal ping and key queries; serf-query-payloads.ts has their
// payloads). Others decode to `other` and are ignored.

import { DecodeError } from './decode-error.ts';
import {
  arrayField,
  asStruct,
  boolField,
  bytesField,
  bytesValue,
  intField,
  stringField,
  stringValue,
  uintField,
} from './go-struct.ts';
import { decodeMsgpack, GoMsgpackWriter, type MsgValue } from './msgpack-go.ts';

export const SerfMessageType = {
  leave: 0,
  join: 1,
  pushPull: 2,
  userEvent: 3,
  query: 4,
  queryResponse: 5,
  conflictResponse: 6,
  keyRequest: 7,
  keyResponse: 8,
  relay: 9,
} as const;

/** Query flags (messageQuery.Flags). */
export const SerfQueryFlag = { ack: 1, noBroadcast: 2 } as const;

/** A node's intent to join, ordered by Serf's member Lamport clock. */
export interface SerfJoin {
  readonly type: 'join';
  readonly ltime: number;
  readonly node: string;
}

export interface SerfLeave {
  readonly type: 'leave';
  readonly ltime: number;
  readonly node: string;
  /** force-leave -prune: forget the node at once. */
  readonly prune: boolean;
}

export interface SerfUserEventBatch {
  readonly ltime: number;
  readonly events: readonly { readonly name: string; readonly payload: Uint8Array }[];
}

/** Serf's push/pull user state: its clocks and what it knows of member intents. */
export interface SerfPushPull {
  readonly type: 'pushPull';
  readonly ltime: number;
  readonly statusLTimes: ReadonlyMap<string, number>;
  readonly leftMembers: readonly string[];
  readonly eventLTime: number;
  /** Recent user events; entries that do not parse are skipped. */
  readonly events: readonly SerfUserEventBatch[];
  readonly queryLTime: number;
}

export interface SerfUserEvent {
  readonly type: 'userEvent';
  readonly ltime: number;
  readonly name: string;
  readonly payload: Uint8Array;
  /** "Can coalesce". */
  readonly cc: boolean;
}

export interface SerfQuery {
  readonly type: 'query';
  readonly ltime: number;
  readonly id: number;
  /** Where to send the response (IP bytes and port). */
  readonly addr: Uint8Array;
  readonly port: number;
  readonly sourceNode: string;
  readonly filters: readonly Uint8Array[];
  readonly flags: number;
  readonly relayFactor: number;
  /** time.Duration, nanoseconds. */
  readonly timeoutNs: number;
  readonly name: string;
  readonly payload: Uint8Array;
}

export interface SerfQueryResponse {
  readonly type: 'queryResponse';
  readonly ltime: number;
  readonly id: number;
  readonly from: string;
  readonly flags: number;
  readonly payload: Uint8Array;
}

/** A response Serf asks us to forward to `destAddr:destPort`; `message` is the inner Serf message. */
export interface SerfRelay {
  readonly type: 'relay';
  readonly destAddr: Uint8Array;
  readonly destPort: number;
  readonly destName: string;
  readonly message: Uint8Array;
}

/** A type we do not act on (conflict/key payloads, or something newer than us). */
export interface SerfOther {
  readonly type: 'other';
  readonly code: number;
}

export type SerfMessage =
  | SerfJoin
  | SerfLeave
  | SerfPushPull
  | SerfUserEvent
  | SerfQuery
  | SerfQueryResponse
  | SerfRelay
  | SerfOther;

export type EncodableSerfMessage = Exclude<SerfMessage, SerfRelay | SerfOther>;

export function encodeSerfMessage(msg: EncodableSerfMessage): Uint8Array {
  const w = new GoMsgpackWriter();
  switch (msg.type) {
    case 'join':
      w.byte(SerfMessageType.join).struct({ LTime: (w) => w.uint(msg.ltime), Node: (w) => w.str(msg.node) });
      break;
    case 'leave':
      w.byte(SerfMessageType.leave).struct({
        LTime: (w) => w.uint(msg.ltime),
        Node: (w) => w.str(msg.node),
        Prune: (w) => w.bool(msg.prune),
      });
      break;
    case 'pushPull':
      w.byte(SerfMessageType.pushPull).struct({
        LTime: (w) => w.uint(msg.ltime),
        StatusLTimes: (w) => {
          // Go writes map entries in random order; sorting keeps our bytes reproducible.
          const names = [...msg.statusLTimes.keys()].sort();
          w.mapHeader(names.length);
          for (const n of names) w.str(n).uint(msg.statusLTimes.get(n)!);
        },
        LeftMembers: (w) => {
          w.arrayHeader(msg.leftMembers.length);
          for (const n of msg.leftMembers) w.str(n);
        },
        EventLTime: (w) => w.uint(msg.eventLTime),
        Events: (w) => {
          w.arrayHeader(msg.events.length);
          for (const batch of msg.events) {
            w.struct({
              LTime: (w) => w.uint(batch.ltime),
              Events: (w) => {
                w.arrayHeader(batch.events.length);
                for (const e of batch.events) {
                  w.struct({ Name: (w) => w.str(e.name), Payload: (w) => w.rawOrNil(e.payload) });
                }
              },
            });
          }
        },
        QueryLTime: (w) => w.uint(msg.queryLTime),
      });
      break;
    case 'userEvent':
      w.byte(SerfMessageType.userEvent).struct({
        LTime: (w) => w.uint(msg.ltime),
        Name: (w) => w.str(msg.name),
        Payload: (w) => w.rawOrNil(msg.payload),
        CC: (w) => w.bool(msg.cc),
      });
      break;
    case 'query':
      w.byte(SerfMessageType.query).struct({
        LTime: (w) => w.uint(msg.ltime),
        ID: (w) => w.uint(msg.id),
        Addr: (w) => w.rawOrNil(msg.addr),
        Port: (w) => w.uint(msg.port),
        SourceNode: (w) => w.str(msg.sourceNode),
        Filters: (w) => w.sliceOrNil(msg.filters, (w, f) => w.raw(f)),
        Flags: (w) => w.uint(msg.flags),
        RelayFactor: (w) => w.uint(msg.relayFactor),
        Timeout: (w) => w.int(msg.timeoutNs),
        Name: (w) => w.str(msg.name),
        Payload: (w) => w.rawOrNil(msg.payload),
      });
      break;
    case 'queryResponse':
      w.byte(SerfMessageType.queryResponse).struct({
        LTime: (w) => w.uint(msg.ltime),
        ID: (w) => w.uint(msg.id),
        From: (w) => w.str(msg.from),
        Flags: (w) => w.uint(msg.flags),
        Payload: (w) => w.rawOrNil(msg.payload),
      });
      break;
  }
  return w.finish();
}

/**
 * Wraps an encoded Serf message (a query response) for a member to pass on to `destAddr:destPort`:
 * Serf's relay, used when a query asks for a relay factor so a lost UDP answer has other routes.
 */
export function encodeSerfRelay(
  destAddr: Uint8Array,
  destPort: number,
  destName: string,
  message: Uint8Array,
): Uint8Array {
  const w = new GoMsgpackWriter(64 + message.length);
  w.byte(SerfMessageType.relay).struct({
    DestAddr: (w) => w.struct({ IP: (w) => w.raw(destAddr), Port: (w) => w.int(destPort), Zone: (w) => w.str('') }),
    DestName: (w) => w.str(destName),
  });
  w.bytes(message);
  return w.finish();
}

/** Decodes a Serf message (a memberlist user message payload, or push/pull user state). */
export function decodeSerfMessage(buf: Uint8Array): SerfMessage {
  const type = buf[0];
  if (type === undefined) throw new DecodeError('truncated', 'empty Serf message');
  switch (type) {
    case SerfMessageType.join: {
      const s = body(buf);
      return { type: 'join', ltime: uintField(s, 'LTime', 64), node: stringField(s, 'Node') };
    }
    case SerfMessageType.leave: {
      const s = body(buf);
      return {
        type: 'leave',
        ltime: uintField(s, 'LTime', 64),
        node: stringField(s, 'Node'),
        prune: boolField(s, 'Prune'),
      };
    }
    case SerfMessageType.pushPull:
      return decodePushPull(body(buf));
    case SerfMessageType.userEvent: {
      const s = body(buf);
      return {
        type: 'userEvent',
        ltime: uintField(s, 'LTime', 64),
        name: stringField(s, 'Name'),
        payload: bytesField(s, 'Payload'),
        cc: boolField(s, 'CC'),
      };
    }
    case SerfMessageType.query: {
      const s = body(buf);
      return {
        type: 'query',
        ltime: uintField(s, 'LTime', 64),
        id: uintField(s, 'ID', 32),
        addr: bytesField(s, 'Addr'),
        port: uintField(s, 'Port', 16),
        sourceNode: stringField(s, 'SourceNode'),
        filters: arrayField(s, 'Filters').map((f, i) => bytesValue(f, `Filters[${i}]`)),
        flags: uintField(s, 'Flags', 32),
        relayFactor: uintField(s, 'RelayFactor', 8),
        timeoutNs: intField(s, 'Timeout'),
        name: stringField(s, 'Name'),
        payload: bytesField(s, 'Payload'),
      };
    }
    case SerfMessageType.queryResponse: {
      const s = body(buf);
      return {
        type: 'queryResponse',
        ltime: uintField(s, 'LTime', 64),
        id: uintField(s, 'ID', 32),
        from: stringField(s, 'From'),
        flags: uintField(s, 'Flags', 32),
        payload: bytesField(s, 'Payload'),
      };
    }
    case SerfMessageType.relay: {
      // [9][relayHeader{DestAddr net.UDPAddr{IP, Port, Zone}, DestName}][inner Serf message]
      const { value, end } = decodeMsgpack(buf, 1);
      const header = asStruct(value, 'relayHeader');
      const dest = asStruct(header.get('DestAddr'), 'DestAddr');
      return {
        type: 'relay',
        destAddr: bytesField(dest, 'IP'),
        destPort: uintField(dest, 'Port', 16),
        destName: stringField(header, 'DestName'),
        message: buf.slice(end),
      };
    }
    default:
      return { type: 'other', code: type };
  }
}

function body(buf: Uint8Array) {
  return asStruct(decodeMsgpack(buf, 1).value, 'Serf message');
}

function decodePushPull(s: ReturnType<typeof body>): SerfPushPull {
  const statusLTimes = new Map<string, number>();
  const raw = s.get('StatusLTimes');
  if (raw !== undefined && raw !== null) {
    if (!(raw instanceof Map)) throw new DecodeError('malformed', 'StatusLTimes: expected a map');
    for (const [name, v] of raw) statusLTimes.set(name, uintField(new Map([[name, v]]), name, 64));
  }
  return {
    type: 'pushPull',
    ltime: uintField(s, 'LTime', 64),
    statusLTimes,
    leftMembers: arrayField(s, 'LeftMembers').map((v, i) => stringValue(v, `LeftMembers[${i}]`)),
    eventLTime: uintField(s, 'EventLTime', 64),
    events: decodeEvents(s.get('Events')),
    queryLTime: uintField(s, 'QueryLTime', 64),
  };
}

/** Serf sends its whole event ring, mostly nil slots. Bad entries are skipped, not fatal. */
function decodeEvents(v: MsgValue | undefined): SerfUserEventBatch[] {
  if (!Array.isArray(v)) return [];
  const out: SerfUserEventBatch[] = [];
  for (const entry of v) {
    if (entry === null) continue;
    try {
      const s = asStruct(entry, 'userEvents');
      out.push({
        ltime: uintField(s, 'LTime', 64),
        events: arrayField(s, 'Events').map((e) => {
          const es = asStruct(e, 'userEvent');
          return { name: stringField(es, 'Name'), payload: bytesField(es, 'Payload') };
        }),
      });
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
    }
  }
  return out;
}
