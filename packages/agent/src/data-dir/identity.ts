import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PeerId, PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { writeFileAtomic } from './atomic-write.ts';
import { DATA_FILES } from './files.ts';

export interface NodeIdentity {
  readonly privateKey: PrivateKey;
  /** Also the node's libp2p peer id, so both planes name the node the same way. */
  readonly peerId: PeerId;
}

export const IDENTITY_FILE = DATA_FILES.identity;

/** Loads the node's Ed25519 key, creating it on first start. */
export async function loadOrCreateIdentity(dataDir: string): Promise<NodeIdentity> {
  const path = join(dataDir, IDENTITY_FILE);
  let privateKey: PrivateKey;
  try {
    privateKey = privateKeyFromProtobuf(await readFile(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(
        `cannot read node key ${path}: ${(err as Error).message}; restore it or remove it to get a new identity`,
      );
    }
    privateKey = await generateKeyPair('Ed25519');
    await writeFileAtomic(path, privateKeyToProtobuf(privateKey));
  }
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey) };
}
