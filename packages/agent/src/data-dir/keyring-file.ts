import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseGossipKey } from '../base/gossip-key.ts';
import { writeFileAtomic } from './atomic-write.ts';
import { DATA_FILES } from './files.ts';

/** Serf's keyring file format (-keyring-file): a JSON array of base64 keys, the primary first. */
export const KEYRING_FILE = DATA_FILES.keyring;

export class KeyringFileError extends Error {
  override readonly name = 'KeyringFileError';
}

/**
 * The gossip keys a key rotation left in the data directory, or undefined when there is no file.
 * They take precedence over --encrypt (as Consul's local.keyring does), since the cluster may have
 * moved on to a key the configuration never held. A file that is not a keyring stops the agent.
 */
export async function readKeyringFile(dataDir: string): Promise<Uint8Array[] | undefined> {
  const path = join(dataDir, KEYRING_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KeyringFileError(`${path}: cannot read: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new KeyringFileError(`${path}: not JSON; expected an array of base64 gossip keys`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    throw new KeyringFileError(`${path}: expected a non-empty array of base64 gossip keys`);
  }
  return parsed.map((k, i) => {
    const key = typeof k === 'string' ? parseGossipKey(k) : undefined;
    if (!key) {
      throw new KeyringFileError(`${path}: entry ${i} is not a base64 AES key of 16, 24 or 32 bytes`);
    }
    return new Uint8Array(key);
  });
}

export function writeKeyringFile(dataDir: string, keys: readonly Uint8Array[]): Promise<void> {
  const body = keys.map((k) => Buffer.from(k).toString('base64'));
  return writeFileAtomic(join(dataDir, KEYRING_FILE), `${JSON.stringify(body, null, 2)}\n`, 0o600);
}
