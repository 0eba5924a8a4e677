// @vigil/protocol: wire formats shared by the agent and tools. The memberlist codec is sans-I/O:
// pure functions from bytes to messages and back, so the same code runs on sockets and in the
// deterministic simulator.

export const PROTOCOL_PACKAGE = '@vigil/protocol';

export type {
  Demotion,
  DemotionObserver,
  EndpointState,
  RouteChange,
  RouteEndpoint,
  RouteLeader,
  RoutesResponse,
  RouteTable,
  RouteTier,
} from './api/routes.ts';
export {
  type EndpointOpinion,
  MAX_OPINION_TRANSITIONS,
  MAX_OPINIONS_PER_NODE,
  MAX_OPINIONS_PER_UPDATE,
  type OpinionState,
  type OpinionTransition,
  type OutcomeCounts,
} from './catalog/opinion.ts';
export {
  compareVersion,
  type FailoverPolicy,
  type GroupBootstrap,
  type InstanceHealth,
  type InstanceRecord,
  type LeaderClaim,
  MAX_GROUPS_PER_NODE,
  MAX_INSTANCES_PER_NODE,
  MAX_RECORD_BYTES,
  type NodeRecord,
} from './catalog/service-record.ts';
export {
  COMPOUND_HEADER_OVERHEAD,
  COMPOUND_PART_OVERHEAD,
  decodeCompound,
  encodeCompound,
  MAX_COMPOUND_PARTS,
} from './memberlist/compound.ts';
export { CRC_HEADER_BYTES } from './memberlist/crc.ts';
export { DecodeError, type DecodeErrorCode, EncodeError } from './memberlist/decode-error.ts';
export { DROP_REASONS, type DropReason } from './memberlist/drop-reason.ts';
export { KEY_FINGERPRINT_PREFIX, keyFingerprint } from './memberlist/key-fingerprint.ts';
export {
  type EncryptionVersion,
  encryptedLength,
  encryptOverhead,
  Keyring,
  KeyringError,
} from './memberlist/keyring.ts';
export { LABEL_MAX_BYTES, labelOverhead } from './memberlist/label.ts';
export {
  decodeMessage,
  encodeMessage,
  MAX_PUSH_STATE_BYTES,
  MAX_PUSH_STATE_NODES,
  type PushPullLimits,
} from './memberlist/message-codec.ts';
export * from './memberlist/messages.ts';
export {
  decodeNodeMeta,
  encodeNodeMeta,
  META_MAX_BYTES,
  META_P2P_ADDR,
  META_PEER_ID,
  META_ZONE,
  NodeMetaTooLargeError,
  type NodeTags,
} from './memberlist/node-meta.ts';
export {
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  DEFAULT_MAX_PACKET_BYTES,
  decodePacket,
  encodePacket,
  type PacketDecodeOptions,
  type PacketDecodeResult,
  type PacketEncodeOptions,
  packetPayloadBudget,
} from './memberlist/packet.ts';
export {
  decodeSerfMessage,
  type EncodableSerfMessage,
  encodeSerfMessage,
  encodeSerfRelay,
  type SerfJoin,
  type SerfLeave,
  type SerfMessage,
  SerfMessageType,
  type SerfOther,
  type SerfPushPull,
  type SerfQuery,
  SerfQueryFlag,
  type SerfQueryResponse,
  type SerfRelay,
  type SerfUserEvent,
  type SerfUserEventBatch,
} from './memberlist/serf-messages.ts';
export {
  decodeConflictResponse,
  decodeKeyRequest,
  decodeKeyResponse,
  decodeQueryFilter,
  encodeConflictResponse,
  encodeKeyRequest,
  encodeKeyResponse,
  encodeQueryFilter,
  type KeyResponse,
  SERF_INTERNAL_QUERY_PREFIX,
  SerfKeyQuery,
  type SerfMemberInfo,
  SerfMemberStatus,
  type SerfQueryFilter,
} from './memberlist/serf-query-payloads.ts';
export {
  encodeStream,
  type StreamDecodeOptions,
  type StreamDecodeResult,
  type StreamEncodeOptions,
  tryDecodeStream,
} from './memberlist/stream.ts';
export {
  ADDRESS_MAX_CHARS,
  addressProblem,
  CONTROL_CHARACTER,
  type InstanceNames,
  instanceNamesProblem,
  META_KEYS_MAX,
  META_VALUE_MAX_CHARS,
  metaKeyProblem,
  metaValueProblem,
  NODE_NAME_MAX_CHARS,
  nodeNameProblem,
  nodeTagsProblem,
  SERVICE_ID_MAX_CHARS,
  SERVICE_NAME_MAX_CHARS,
  SERVICE_TAG_MAX_CHARS,
  SERVICE_TAGS_MAX,
  serviceIdProblem,
  serviceNameProblem,
  serviceTagProblem,
  shadowsLiteralHost,
  TAG_KEY_MAX_CHARS,
  TAG_VALUE_MAX_CHARS,
  tagKeyProblem,
  tagValueProblem,
  ZONE_MAX_CHARS,
  zoneProblem,
} from './names.ts';
