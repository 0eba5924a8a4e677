// The catalog plane: signed service records over gossipsub, repaired by anti-entropy, on a
// libp2p node whose connections the membership plane decides.

export {
  type CatalogCoreOptions,
  type CatalogEvents,
  CatalogNode,
  type CatalogNodeOptions,
  type CatalogPeer,
  CatalogPublishError,
  type CatalogStats,
  type RecordChange,
  type RecordSource,
} from './catalog-node.ts';
export type {
  CatalogTransport,
  CatalogTransportFactory,
  GossipTopic,
  GossipVerdict,
  TransportAddress,
  TransportHandlers,
} from './catalog-transport.ts';
export { DialPlan, hangUps, pairRank } from './dial-plan.ts';
export { CATALOG_TOPIC, catalogGossipsubOptions, fastMessageId, messageId, OPINION_TOPIC } from './gossip-config.ts';
export { dialMultiaddr } from './libp2p-transport.ts';
export {
  decodeOpinionUpdate,
  encodeOpinionUpdate,
  MAX_OPINION_UPDATE_BYTES,
  type OpinionUpdate,
} from './opinion-codec.ts';
export { OpinionIntake } from './opinion-intake.ts';
export { OpinionOverlay } from './opinion-overlay.ts';
export { derivePnetKey, swarmKeyFromGossipKey } from './pnet-key.ts';
export { pnetProtector, XSalsa20Stream } from './pnet-protector.ts';
export {
  decodeEnvelope,
  RecordError,
  type RecordRejection,
  type SignedRecord,
  signRecord,
  validateRecord,
  verifyEnvelope,
} from './record-codec.ts';
export { type DigestEntry, type MergeResult, RecordStore } from './record-store.ts';
export { SYNC_PROTOCOL, SYNC_PROTOCOL_V2, SyncProtocolError, type SyncResult } from './sync-protocol.ts';
