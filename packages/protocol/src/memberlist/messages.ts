// The memberlist wire messages as plain data. Field meanings follow memberlist's net.go structs
// (Go field names are the msgpack keys on the wire: SeqNo, Node, SourceAddr, ...).

/** Message type bytes. memberlist only ever appends to this list. */
export const MessageType = {
  ping: 0,
  indirectPing: 1,
  ack: 2,
  suspect: 3,
  alive: 4,
  dead: 5,
  pushPull: 6,
  compound: 7,
  user: 8,
  compress: 9,
  encrypt: 10,
  nack: 11,
  hasCrc: 12,
  err: 13,
} as const;

/** First byte of a packet or stream that carries a cluster label. */
export const HAS_LABEL = 244;

/** memberlist's NodeStateType as carried in push/pull. */
export const NodeState = { alive: 0, suspect: 1, dead: 2, left: 3 } as const;
export type NodeState = (typeof NodeState)[keyof typeof NodeState];

export interface Ping {
  readonly type: 'ping';
  readonly seqNo: number;
  /** The name the sender believes the target has; a target with another name ignores it. */
  readonly node: string;
  readonly sourceAddr?: Uint8Array | undefined;
  readonly sourcePort?: number | undefined;
  readonly sourceNode?: string | undefined;
}

export interface IndirectPing {
  readonly type: 'indirectPing';
  readonly seqNo: number;
  readonly target: Uint8Array;
  readonly port: number;
  readonly node: string;
  /** Ask the relay for a nack when the target does not answer (protocol >= 4). */
  readonly nack: boolean;
  readonly sourceAddr?: Uint8Array | undefined;
  readonly sourcePort?: number | undefined;
  readonly sourceNode?: string | undefined;
}

export interface Ack {
  readonly type: 'ack';
  readonly seqNo: number;
  readonly payload: Uint8Array;
}

export interface Nack {
  readonly type: 'nack';
  readonly seqNo: number;
}

export interface Suspect {
  readonly type: 'suspect';
  readonly incarnation: number;
  readonly node: string;
  readonly from: string;
}

export interface Alive {
  readonly type: 'alive';
  readonly incarnation: number;
  readonly node: string;
  readonly addr: Uint8Array;
  readonly port: number;
  readonly meta: Uint8Array;
  /** [protocolMin, protocolMax, protocolCur, delegateMin, delegateMax, delegateCur] */
  readonly vsn: readonly number[];
}

export interface Dead {
  readonly type: 'dead';
  readonly incarnation: number;
  readonly node: string;
  /** Equal to `node` when the node announces its own graceful leave. */
  readonly from: string;
}

export interface PushNodeState {
  readonly name: string;
  readonly addr: Uint8Array;
  readonly port: number;
  readonly meta: Uint8Array;
  readonly incarnation: number;
  readonly state: NodeState;
  readonly vsn: readonly number[];
}

export interface PushPull {
  readonly type: 'pushPull';
  readonly join: boolean;
  readonly nodes: readonly PushNodeState[];
  /** The delegate's opaque state (Serf puts its own push/pull message here). */
  readonly userState: Uint8Array;
}

/** A delegate message (Serf's intents, events and queries ride here). */
export interface UserMessage {
  readonly type: 'user';
  readonly payload: Uint8Array;
}

export interface ErrResp {
  readonly type: 'err';
  readonly error: string;
}

/** Every message that can appear inside a packet or a stream, after unwrapping. */
export type Message = Ping | IndirectPing | Ack | Nack | Suspect | Alive | Dead | PushPull | UserMessage | ErrResp;
