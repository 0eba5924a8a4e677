// One memberlist message <-> [type byte][msgpack body], with memberlist's Go field names as keys and
// its field order (net.go), so our bytes match what a Go peer would send for the same message.

import { DecodeError, EncodeError } from './decode-error.ts';
import {
  asStruct,
  boolField,
  bytesField,
  countField,
  type GoStruct,
  optionalBytesField,
  stringField,
  uintField,
} from './go-struct.ts';
import {
  type Ack,
  type Alive,
  type Dead,
  type ErrResp,
  type IndirectPing,
  type Message,
  MessageType,
  type Nack,
  type NodeState,
  type Ping,
  type PushNodeState,
  type PushPull,
  type Suspect,
} from './messages.ts';
import { DEFAULT_MSGPACK_LIMITS, decodeMsgpack, GoMsgpackWriter, type MsgValue } from './msgpack-go.ts';

/** memberlist's maxPushStateBytes: the most push/pull state (and user message) we accept. */
export const MAX_PUSH_STATE_BYTES = 20 * 1024 * 1024;
/** Most node records one push/pull may carry. */
export const MAX_PUSH_STATE_NODES = 1 << 20;

export interface PushPullLimits {
  readonly maxPushStateBytes?: number;
  readonly maxPushStateNodes?: number;
}

/** Encodes one message as memberlist sends it on its own: type byte + body. */
export function encodeMessage(msg: Message): Uint8Array {
  const w = new GoMsgpackWriter();
  writeMessage(w, msg);
  return w.finish();
}

export function writeMessage(w: GoMsgpackWriter, msg: Message): void {
  switch (msg.type) {
    case 'ping':
      w.byte(MessageType.ping).struct({
        SeqNo: (w) => w.uint(checkUint(msg.seqNo, 32, 'seqNo')),
        Node: (w) => w.str(msg.node),
        ...sourceFields(msg),
      });
      return;
    case 'indirectPing':
      w.byte(MessageType.indirectPing).struct({
        SeqNo: (w) => w.uint(checkUint(msg.seqNo, 32, 'seqNo')),
        Target: (w) => w.rawOrNil(msg.target),
        Port: (w) => w.uint(checkUint(msg.port, 16, 'port')),
        Node: (w) => w.str(msg.node),
        Nack: (w) => w.bool(msg.nack),
        ...sourceFields(msg),
      });
      return;
    case 'ack':
      // ackResp{SeqNo uint32, Payload []byte}; memberlist without a ping delegate sends a nil payload.
      w.byte(MessageType.ack).struct({
        SeqNo: (w) => w.uint(checkUint(msg.seqNo, 32, 'seqNo')),
        Payload: (w) => w.rawOrNil(msg.payload),
      });
      return;
    case 'nack':
      w.byte(MessageType.nack).struct({ SeqNo: (w) => w.uint(checkUint(msg.seqNo, 32, 'seqNo')) });
      return;
    case 'suspect':
    case 'dead':
      w.byte(msg.type === 'suspect' ? MessageType.suspect : MessageType.dead).struct({
        Incarnation: (w) => w.uint(checkUint(msg.incarnation, 32, 'incarnation')),
        Node: (w) => w.str(msg.node),
        From: (w) => w.str(msg.from),
      });
      return;
    case 'alive':
      w.byte(MessageType.alive).struct({
        Incarnation: (w) => w.uint(checkUint(msg.incarnation, 32, 'incarnation')),
        Node: (w) => w.str(msg.node),
        Addr: (w) => w.rawOrNil(msg.addr),
        Port: (w) => w.uint(checkUint(msg.port, 16, 'port')),
        Meta: (w) => w.rawOrNil(msg.meta),
        Vsn: (w) => w.rawOrNil(vsnBytes(msg.vsn)),
      });
      return;
    case 'pushPull':
      w.byte(MessageType.pushPull);
      writePushPullBody(w, msg);
      return;
    case 'user':
      // A user message on a packet is the delegate's bytes with no msgpack around them.
      w.byte(MessageType.user).bytes(msg.payload);
      return;
    case 'err':
      w.byte(MessageType.err).struct({ Error: (w) => w.str(msg.error) });
      return;
  }
}

// SourceAddr, SourcePort and SourceNode are `codec:",omitempty"` in memberlist.
function sourceFields(m: Ping | IndirectPing): Record<string, ((w: GoMsgpackWriter) => void) | undefined> {
  return {
    SourceAddr: m.sourceAddr !== undefined && m.sourceAddr.length > 0 ? (w) => w.raw(m.sourceAddr!) : undefined,
    SourcePort:
      m.sourcePort !== undefined && m.sourcePort !== 0
        ? (w) => w.uint(checkUint(m.sourcePort!, 16, 'port'))
        : undefined,
    SourceNode: m.sourceNode !== undefined && m.sourceNode !== '' ? (w) => w.str(m.sourceNode!) : undefined,
  };
}

function writePushNodeState(w: GoMsgpackWriter, n: PushNodeState): void {
  w.struct({
    Name: (w) => w.str(n.name),
    Addr: (w) => w.rawOrNil(n.addr),
    Port: (w) => w.uint(checkUint(n.port, 16, 'port')),
    Meta: (w) => w.rawOrNil(n.meta),
    Incarnation: (w) => w.uint(checkUint(n.incarnation, 32, 'incarnation')),
    State: (w) => w.uint(checkUint(n.state, 8, 'state')),
    Vsn: (w) => w.rawOrNil(vsnBytes(n.vsn)),
  });
}

/** [pushPullHeader][pushNodeState × Nodes][user state bytes], as memberlist's sendLocalState. */
export function writePushPullBody(w: GoMsgpackWriter, m: PushPull): void {
  w.struct({
    Nodes: (w) => w.int(m.nodes.length),
    UserStateLen: (w) => w.int(m.userState.length),
    Join: (w) => w.bool(m.join),
  });
  for (const n of m.nodes) writePushNodeState(w, n);
  w.bytes(m.userState);
}

/** Vsn is a Go []uint8, which go-msgpack writes as raw bytes, not as an array. */
function vsnBytes(vsn: readonly number[]): Uint8Array {
  const out = new Uint8Array(vsn.length);
  vsn.forEach((v, i) => {
    out[i] = checkUint(v, 8, 'vsn');
  });
  return out;
}

function checkUint(v: number, bits: 8 | 16 | 32, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) throw new EncodeError(`${what} ${v} does not fit uint${bits}`);
  return v;
}

/**
 * Decodes one leaf message (type byte + body). Containers (compound, compress, encrypt, CRC) are the
 * packet and stream layers' business and are refused here. Trailing bytes are ignored, as Go does.
 */
export function decodeMessage(buf: Uint8Array, limits: PushPullLimits = {}): Message {
  if (buf.length === 0) throw new DecodeError('truncated', 'empty message');
  return decodeMessageAt(buf, 0, limits).message;
}

export function decodeMessageAt(
  buf: Uint8Array,
  offset: number,
  limits: PushPullLimits = {},
): { message: Message; end: number } {
  const type = buf[offset];
  if (type === undefined) throw new DecodeError('truncated', 'missing message type byte');
  const start = offset + 1;
  switch (type) {
    case MessageType.user:
      return { message: { type: 'user', payload: buf.slice(start) }, end: buf.length };
    case MessageType.pushPull:
      return decodePushPullBody(buf, start, limits);
    case MessageType.ping:
    case MessageType.indirectPing:
    case MessageType.ack:
    case MessageType.nack:
    case MessageType.suspect:
    case MessageType.alive:
    case MessageType.dead:
    case MessageType.err: {
      const { value, end } = decodeMsgpack(buf, start);
      return { message: structToMessage(type, asStruct(value, 'message body')), end };
    }
    default:
      throw new DecodeError('unknown-type', `not a leaf message type: ${type}`);
  }
}

function structToMessage(type: number, s: GoStruct): Message {
  switch (type) {
    case MessageType.ping:
      return {
        type: 'ping',
        seqNo: uintField(s, 'SeqNo', 32),
        node: stringField(s, 'Node'),
        ...readSourceFields(s),
      };
    case MessageType.indirectPing:
      return {
        type: 'indirectPing',
        seqNo: uintField(s, 'SeqNo', 32),
        target: bytesField(s, 'Target'),
        port: uintField(s, 'Port', 16),
        node: stringField(s, 'Node'),
        nack: boolField(s, 'Nack'),
        ...readSourceFields(s),
      } satisfies IndirectPing;
    case MessageType.ack:
      return { type: 'ack', seqNo: uintField(s, 'SeqNo', 32), payload: bytesField(s, 'Payload') } satisfies Ack;
    case MessageType.nack:
      return { type: 'nack', seqNo: uintField(s, 'SeqNo', 32) } satisfies Nack;
    case MessageType.suspect:
      return {
        type: 'suspect',
        incarnation: uintField(s, 'Incarnation', 32),
        node: stringField(s, 'Node'),
        from: stringField(s, 'From'),
      } satisfies Suspect;
    case MessageType.dead:
      return {
        type: 'dead',
        incarnation: uintField(s, 'Incarnation', 32),
        node: stringField(s, 'Node'),
        from: stringField(s, 'From'),
      } satisfies Dead;
    case MessageType.alive:
      return {
        type: 'alive',
        incarnation: uintField(s, 'Incarnation', 32),
        node: stringField(s, 'Node'),
        addr: bytesField(s, 'Addr'),
        port: uintField(s, 'Port', 16),
        meta: bytesField(s, 'Meta'),
        vsn: [...bytesField(s, 'Vsn')],
      } satisfies Alive;
    default:
      return { type: 'err', error: stringField(s, 'Error') } satisfies ErrResp;
  }
}

function readSourceFields(s: GoStruct): Pick<Ping, 'sourceAddr' | 'sourcePort' | 'sourceNode'> {
  const out: { sourceAddr?: Uint8Array; sourcePort?: number; sourceNode?: string } = {};
  const addr = optionalBytesField(s, 'SourceAddr');
  if (addr !== undefined) out.sourceAddr = addr;
  const port = uintField(s, 'SourcePort', 16);
  if (port !== 0) out.sourcePort = port;
  const node = stringField(s, 'SourceNode');
  if (node !== '') out.sourceNode = node;
  return out;
}

function decodeNodeState(v: MsgValue): PushNodeState {
  const s = asStruct(v, 'pushNodeState');
  const state = uintField(s, 'State', 8);
  return {
    name: stringField(s, 'Name'),
    addr: bytesField(s, 'Addr'),
    port: uintField(s, 'Port', 16),
    meta: bytesField(s, 'Meta'),
    incarnation: uintField(s, 'Incarnation', 32),
    // Kept as sent: a newer peer may know states we do not, and the engine decides what to do.
    state: state as NodeState,
    vsn: [...bytesField(s, 'Vsn')],
  };
}

/**
 * Decodes [header][nodes][user state] starting at `offset` (just after the pushPull type byte).
 * Throws DecodeError 'truncated' when the buffer ends early, which the stream decoder turns into
 * "wait for more bytes".
 */
export function decodePushPullBody(
  buf: Uint8Array,
  offset: number,
  limits: PushPullLimits = {},
): { message: PushPull; end: number } {
  const maxBytes = limits.maxPushStateBytes ?? MAX_PUSH_STATE_BYTES;
  const maxNodes = limits.maxPushStateNodes ?? MAX_PUSH_STATE_NODES;
  const head = decodeMsgpack(buf, offset);
  const header = asStruct(head.value, 'pushPullHeader');
  const nodeCount = countField(header, 'Nodes');
  const userStateLen = countField(header, 'UserStateLen');
  if (nodeCount > maxNodes) throw new DecodeError('too-large', `push/pull claims ${nodeCount} nodes`);
  if (userStateLen > maxBytes) throw new DecodeError('too-large', `push/pull user state of ${userStateLen} bytes`);
  const nodes: PushNodeState[] = [];
  let at = head.end;
  for (let i = 0; i < nodeCount; i++) {
    const { value, end } = decodeMsgpack(buf, at, DEFAULT_MSGPACK_LIMITS);
    nodes.push(decodeNodeState(value));
    at = end;
  }
  if (at + userStateLen > buf.length) throw new DecodeError('truncated', 'push/pull user state is incomplete');
  const userState = buf.slice(at, at + userStateLen);
  return {
    message: { type: 'pushPull', join: boolField(header, 'Join'), nodes, userState },
    end: at + userStateLen,
  };
}

/** compress{Algo, Buf}: the body of a type 9 message. */
export function writeCompressBody(w: GoMsgpackWriter, algo: number, data: Uint8Array): void {
  w.struct({ Algo: (w) => w.uint(algo), Buf: (w) => w.rawOrNil(data) });
}

export function decodeCompressBody(buf: Uint8Array, offset: number): { algo: number; data: Uint8Array; end: number } {
  const { value, end } = decodeMsgpack(buf, offset);
  const s = asStruct(value, 'compress');
  const raw = s.get('Buf');
  // Decompression reads the view directly; no need to copy what may be a large buffer.
  const data = raw instanceof Uint8Array ? raw : bytesField(s, 'Buf');
  return { algo: uintField(s, 'Algo', 8), data, end };
}

/** userMsgHeader{UserMsgLen}: precedes a user message sent over a stream. */
export function writeUserMsgHeader(w: GoMsgpackWriter, length: number): void {
  w.struct({ UserMsgLen: (w) => w.int(length) });
}

export function decodeUserMsgHeader(buf: Uint8Array, offset: number): { length: number; end: number } {
  const { value, end } = decodeMsgpack(buf, offset);
  return { length: countField(asStruct(value, 'userMsgHeader'), 'UserMsgLen'), end };
}
