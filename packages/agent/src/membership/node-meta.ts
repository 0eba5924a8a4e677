import { encodeNodeMeta, META_P2P_ADDR, META_PEER_ID, META_ZONE, NodeMetaTooLargeError } from '@vigil/protocol';
import { ConfigError } from '../config/config-error.ts';
import type { AgentConfig } from '../config/schema.ts';

/**
 * This node's SWIM metadata, in Serf's tag format so Serf agents list our tags and we read theirs:
 * the user's tags plus the reserved keys for the zone and the libp2p identity and address.
 */
export function nodeMeta(config: AgentConfig, peerId: string, p2pAddress: string): Uint8Array {
  try {
    return encodeNodeMeta({
      ...config.tags,
      [META_ZONE]: config.zone,
      [META_PEER_ID]: peerId,
      [META_P2P_ADDR]: p2pAddress,
    });
  } catch (err) {
    if (err instanceof NodeMetaTooLargeError) {
      throw new ConfigError([
        `tags: together they encode to more than 512 bytes of node metadata; use fewer or shorter tags`,
      ]);
    }
    throw err;
  }
}
