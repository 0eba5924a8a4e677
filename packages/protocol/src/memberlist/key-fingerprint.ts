import { createHash } from 'node:crypto';

/** Marks a fingerprint, so that nobody takes it for a key (keys are bare base64). */
export const KEY_FINGERPRINT_PREFIX = 'sha256:';

/**
 * A gossip key's fingerprint: `sha256:` and the base64 SHA-256 of the raw key bytes. It tells
 * keys apart (which members hold which key, which one is primary) without being one: the agent's
 * keyring listing shows fingerprints to anyone without the ACL token.
 */
export function keyFingerprint(key: Uint8Array | string): string {
  const raw = typeof key === 'string' ? Buffer.from(key, 'base64') : key;
  return `${KEY_FINGERPRINT_PREFIX}${createHash('sha256').update(raw).digest('base64')}`;
}
