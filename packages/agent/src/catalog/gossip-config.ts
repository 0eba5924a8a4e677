// Gossipsub settings for the catalog topic, tuned for private clusters of 2-500 agents whose
// connections the membership plane decides. Each line says why. Measured behaviour behind these
// choices: /work/shared/reference/libp2p-notes.md §5-§6 (and the catalog tests).

import { createHash } from 'node:crypto';
import type { GossipsubOpts } from '@libp2p/gossipsub';

/** The one topic every agent publishes its record on. */
export const CATALOG_TOPIC = '/vigil/catalog/1';

/** One gossipsub RPC frame on the wire: a few maximal records plus control messages. */
export const MAX_GOSSIP_FRAME_BYTES = 1024 * 1024;

/**
 * Content-addressed message id: sha256(topic ‖ data). Two deliveries of the same record version
 * (same signed bytes, whoever relays them) are one message, so duplicates die in the seen cache.
 * A record never re-announces identical bytes (every change bumps seq), so the network-wide dedupe
 * for `seenTTL` cannot swallow a real update.
 */
export function contentMessageId(msg: { topic: string; data: Uint8Array }): Uint8Array {
  return createHash('sha256').update(msg.topic).update(msg.data).digest();
}

export function catalogGossipsubOptions(overrides: Partial<GossipsubOpts> = {}): Partial<GossipsubOpts> {
  return {
    // StrictSign: every message carries from + seqno + signature, verified by gossipsub before our
    // validator sees it; the validator then checks that `from` is the peer membership holds for
    // the record's node. (Records also carry their own signature for anti-entropy; see record-codec.ts.)
    globalSignaturePolicy: 'StrictSign',
    msgIdFn: contentMessageId,

    // Latency path. floodPublish: the author sends its record straight to EVERY connected peer that
    // subscribes to the topic, so most agents get a health flip in one hop whatever the mesh looks
    // like; the mesh only carries the second hop to agents we are not connected to (clusters larger
    // than the dial degree, see catalog-node.ts). Publish latency therefore does not wait on the
    // heartbeat. Cost: one send per connected peer per flip, on small records.
    floodPublish: true,

    // Mesh degree for forwarding (hop 2+). 8 target, 6-12 band: at 500 agents with ~50 connections
    // each, a mesh of 8 reaches everyone in two or three hops; wider meshes only add duplicates. With
    // fewer connected peers than Dlo (clusters of 2-7) the mesh is simply everyone, which is harmless.
    // Dout 3 (< Dlo, <= D/2) keeps some outbound mesh links, Dscore 4 keeps the best-scored on prune,
    // Dlazy 6 peers get IHAVE gossip per heartbeat.
    D: 8,
    Dlo: 6,
    Dhi: 12,
    Dout: 3,
    Dscore: 4,
    Dlazy: 6,

    // Heartbeat 700 ms: maintains the mesh and emits IHAVE gossip, which is how an agent that missed
    // a forward (a mesh peer left mid-flight) fetches it, so a miss costs about one heartbeat rather
    // than an anti-entropy round. Lower buys little (each beat costs CPU on every agent); higher
    // slows that repair. mcacheLength 5 / mcacheGossip 3 (defaults) advertise ~2 s of history.
    heartbeatInterval: 700,
    mcacheLength: 5,
    mcacheGossip: 3,

    // fanoutTTL only matters when publishing to a topic we do not subscribe to; every agent
    // subscribes to the catalog topic, so fanout is unused. 60 s (the default) is kept as is.
    fanoutTTL: 60_000,

    // The seen cache dedupes message ids for 2 minutes (the default): long enough to outlast every
    // path a message can take, and identical ids are always the same record version.
    seenTTL: 120_000,

    // A lone agent (the first of a cluster, or one whose peers all died) must still publish without
    // an error: its record goes into the local store and anti-entropy hands it to whoever connects.
    allowPublishToZeroTopicPeers: true,
    // Publishing the same bytes twice (a retry) is not an error.
    ignoreDuplicatePublishError: true,
    // Our own records enter the store directly in publish(), not through the gossip echo.
    emitSelf: false,

    // Only the catalog topic, only meshsub: no floodsub fallback, no other topics.
    fallbackToFloodsub: false,
    allowedTopics: [CATALOG_TOPIC],

    // Membership alone decides connections: no peer exchange on prune and no direct peers
    // (gossipsub would dial both by itself).
    doPX: false,
    directPeers: [],

    // Scoring. The defaults are harmless in a private cluster except P6, IP colocation: more than 10
    // peers on one IP (one host, NAT, overlay networks, loopback tests) get -5·(n-10)² each, which
    // prunes them from the mesh, then drops them below the publish and graylist thresholds: every
    // message is silently lost (measured: 0 of 2900 delivered at 30 agents on one host). Off.
    // No topic score params: admission is decided by membership and the record check, not by score.
    scoreParams: { IPColocationFactorWeight: 0, IPColocationFactorThreshold: 1000 },

    // Bounds on what one peer can make us decode or hold.
    maxInboundDataLength: MAX_GOSSIP_FRAME_BYTES,
    maxTopicBytesPerPeer: 16 * 1024,
    decodeRpcLimits: {
      maxSubscriptions: 16,
      maxMessages: 256,
      maxIhaveMessageIDs: 5000,
      maxIwantMessageIDs: 5000,
      maxIdontwantMessageIDs: 512,
      maxControlMessages: 5000,
      maxPeerInfos: 16,
    },
    ...overrides,
  };
}
