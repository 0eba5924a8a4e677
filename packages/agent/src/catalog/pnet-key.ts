// The libp2p private-network (pnet) key, derived from the cluster's gossip key so that one
// secret admits a host to both planes. HKDF-SHA256 with a fixed salt and a purpose label gives a
// key that is independent of the gossip key's other uses (AES-GCM on the membership plane):
// learning the pnet key reveals nothing about the gossip key, and the two never coincide.

import { hkdfSync } from 'node:crypto';

const SALT = 'vigil/pnet';
const INFO = 'vigil libp2p pnet psk v1';
/** pnet's XSalsa20 key length. */
export const PNET_KEY_BYTES = 32;

/** The 32 raw bytes of the pnet key for this gossip key. */
export function derivePnetKey(gossipKey: Uint8Array): Uint8Array {
  if (![16, 24, 32].includes(gossipKey.length)) {
    throw new Error(`the gossip key must be 16, 24 or 32 bytes, not ${gossipKey.length}`);
  }
  return new Uint8Array(hkdfSync('sha256', gossipKey, SALT, INFO, PNET_KEY_BYTES));
}

/** The pnet key in the swarm-key file format that `@libp2p/pnet`'s preSharedKey() reads. */
export function swarmKeyFromGossipKey(gossipKey: Uint8Array): Uint8Array {
  const hex = Buffer.from(derivePnetKey(gossipKey)).toString('hex');
  return new TextEncoder().encode(`/key/swarm/psk/1.0.0/\n/base16/\n${hex}`);
}
