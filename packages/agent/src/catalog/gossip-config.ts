// Gossipsub settings for the catalog topic, tuned for private clusters of 2-500 agents whose
// connections the membership plane decides. Each line says why. Measured behaviour behind these
// choices: /work/shared/reference/libp2p-notes.md §5-§6 (and the catalog tests).

import { createHash } from 'node:crypto';
import type { GossipsubOpts, Message } from '@libp2p/gossipsub';
import { defaultPeerScoreParams } from '@libp2p/gossipsub/score';

/** The topic every agent publishes its record on. */
export const CATALOG_TOPIC = '/vigil/catalog/1';
/**
 * The topic of opinion updates (opinion-codec.ts): small, frequent, latency-critical. An agent
 * that does not know it (an older version) simply does not subscribe, and takes opinions from
 * the records as before.
 */
export const OPINION_TOPIC = '/vigil/opinions/1';

/** One gossipsub RPC frame on the wire: a few maximal records plus control messages. */
export const MAX_GOSSIP_FRAME_BYTES = 1024 * 1024;

/**
 * Message id: sha256(publisher ‖ topic ‖ data). Two deliveries of the same record version by the
 * same author (whoever relays them) are one message, so duplicates die in the seen cache; a record
 * never re-announces identical bytes (every change bumps seq), so the network-wide dedupe for
 * `seenTTL` cannot swallow a real update.
 *
 * The publisher is part of the id on purpose. With a pure content id, a member that re-publishes
 * an honest record's bytes under its own signature would get its copy into the seen caches first
 * (gossipsub keeps rejected ids there), and the honest copy arriving later would be dropped as a
 * duplicate: a way to suppress other nodes' health flips.
 */
export function messageId(msg: Message): Uint8Array {
  const from = msg.type === 'signed' ? msg.from.toMultihash().bytes : EMPTY;
  return idHash(from, msg.topic, msg.data);
}

/**
 * The same hash over the raw RPC fields, computed BEFORE gossipsub verifies the StrictSign
 * signature. Without it, every duplicate copy of a message (one per mesh peer that forwards it) is
 * signature-checked before being recognised as a duplicate, which measured as the largest single
 * CPU cost per health flip. A forged `from` cannot poison this cache: gossipsub records the fast id
 * only after the signature has verified.
 */
export function fastMessageId(msg: { from?: Uint8Array; topic: string; data?: Uint8Array }): string {
  return Buffer.from(idHash(msg.from ?? EMPTY, msg.topic, msg.data ?? EMPTY)).toString('base64');
}

const EMPTY = new Uint8Array(0);

function idHash(from: Uint8Array, topic: string, data: Uint8Array): Uint8Array {
  const lengths = Buffer.alloc(8);
  lengths.writeUInt32BE(from.length, 0);
  lengths.writeUInt32BE(Buffer.byteLength(topic), 4);
  return createHash('sha256').update(lengths).update(from).update(topic).update(data).digest();
}

/** How often gossipsub decays peer scores (its default is 1 s). */
export const SCORE_DECAY_INTERVAL_MS = 5000;

/** A decay factor per default interval, restated per SCORE_DECAY_INTERVAL_MS. */
function perInterval(factor: number): number {
  return factor ** (SCORE_DECAY_INTERVAL_MS / defaultPeerScoreParams.decayInterval);
}

export function catalogGossipsubOptions(overrides: Partial<GossipsubOpts> = {}): Partial<GossipsubOpts> {
  return {
    // StrictSign: every message carries from + seqno + signature, verified by gossipsub before our
    // validator sees it; the validator then checks that `from` is the peer membership holds for
    // the record's node. (Records also carry their own signature for anti-entropy; see record-codec.ts.)
    globalSignaturePolicy: 'StrictSign',
    msgIdFn: messageId,
    fastMsgIdFn: fastMessageId,

    // Latency path. floodPublish: the author sends its record straight to EVERY connected peer that
    // subscribes to the topic, so most agents get a health flip in one hop whatever the mesh looks
    // like; the mesh only carries the second hop to agents we are not connected to (clusters larger
    // than the dial degree, see catalog-node.ts). Publish latency therefore does not wait on the
    // heartbeat. Cost: one send per connected peer per flip, on small records.
    floodPublish: true,

    // Mesh degree for forwarding (hop 2+): D 6 in a 4-10 band (gossipsub's defaults but a lower
    // ceiling). With floodPublish most agents already have the record after hop 1; the mesh only
    // carries it to agents the author is not connected to (clusters beyond the dial degree: at 500
    // agents with ~40-60 connections each, a mesh of 6 reaches everyone in two or three hops) and
    // is the redundancy when a direct send is lost. Every mesh peer costs one more (mostly
    // duplicate) send per message on every agent; IDONTWANT (messages >= 512 B) suppresses part of
    // them. Measured at 20 agents: D 4 costs ~20 % less CPU per flip than D 8. With fewer connected
    // peers than Dlo (clusters of 2-4) the mesh is simply everyone, which is harmless.
    // Dout 2 keeps some outbound mesh links, Dscore 3 keeps the best-scored on prune, Dlazy 6 peers
    // get IHAVE gossip per heartbeat.
    D: 6,
    Dlo: 4,
    Dhi: 10,
    Dout: 2,
    Dscore: 3,
    Dlazy: 6,

    // Heartbeat 1 s (gossipsub's default): maintains the mesh and emits IHAVE gossip, which is how an
    // agent that missed a forward (a mesh peer left mid-flight) fetches it, so a miss costs about one
    // heartbeat rather than an anti-entropy round. At idle the beat is the catalog's most frequent
    // timer (issue #18): at 700 ms it woke every agent 1.43 times a second for ~0.2 ms of JS each;
    // 1 s takes 0.43 wake-ups/s off each agent (its timers 3.0 -> 2.6/s in 5-agent clusters) and
    // left health-flip propagation at 20 agents as it was (p50 111 ms). Whole-process CPU moved
    // within the noise: the saving is ~0.1 ms/s of ~7.
    // mcacheLength 5 / mcacheGossip 3 (defaults) advertise ~3 s of history.
    heartbeatInterval: 1000,
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

    // Only our two topics, only meshsub: no floodsub fallback, no other topics.
    fallbackToFloodsub: false,
    allowedTopics: [CATALOG_TOPIC, OPINION_TOPIC],

    // Membership alone decides connections: no peer exchange on prune and no direct peers
    // (gossipsub would dial both by itself).
    doPX: false,
    directPeers: [],

    // Scoring. The defaults are harmless in a private cluster except P6, IP colocation: more than 10
    // peers on one IP (one host, NAT, overlay networks, loopback tests) get -5·(n-10)² each, which
    // prunes them from the mesh, then drops them below the publish and graylist thresholds: every
    // message is silently lost (measured: 0 of 2900 delivered at 30 agents on one host). Off.
    // No topic score params: admission is decided by membership and the record check, not by score.
    // Score upkeep every 5 s instead of gossipsub's 1 s: its timer wakes an idle agent for nothing
    // but decay (issue #18). The one decayed counter we use (P7, behaviour penalty; there are no
    // topic params) then decays by the default's 5th power per interval: the same decay per second.
    scoreParams: {
      IPColocationFactorWeight: 0,
      IPColocationFactorThreshold: 1000,
      decayInterval: SCORE_DECAY_INTERVAL_MS,
      behaviourPenaltyDecay: perInterval(defaultPeerScoreParams.behaviourPenaltyDecay),
    },

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
