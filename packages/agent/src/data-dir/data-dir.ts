import { join } from 'node:path';
import { DATA_FILES, type DataFile } from './files.ts';
import { loadOrCreateIdentity, type NodeIdentity } from './identity.ts';
import { readKeyringFile, writeKeyringFile } from './keyring-file.ts';
import { DataDirLock } from './lock.ts';
import { readSnapshot, type SnapshotMember, type SnapshotRead, writeSnapshot } from './members-file.ts';

export { DATA_FILES, type DataFile } from './files.ts';

/**
 * The agent's data directory: where each file lives and the operations on the files the agent
 * owns. The planes get this object rather than a path string and a file name of their own.
 */
export class DataDir {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  /** A path string or a DataDir, as a DataDir (for options that still take either). */
  static of(dir: string | DataDir): DataDir {
    return typeof dir === 'string' ? new DataDir(dir) : dir;
  }

  file(which: DataFile): string {
    return join(this.path, DATA_FILES[which]);
  }

  /** Creates the directory if needed and locks it against a second agent. */
  lock(): DataDirLock {
    return DataDirLock.acquire(this.path);
  }

  identity(): Promise<NodeIdentity> {
    return loadOrCreateIdentity(this.path);
  }

  /** The keyring a rotation left, or undefined when there is none. */
  readKeyring(): Promise<Uint8Array[] | undefined> {
    return readKeyringFile(this.path);
  }

  writeKeyring(keys: readonly Uint8Array[]): Promise<void> {
    return writeKeyringFile(this.path, keys);
  }

  /** The members last seen alive; empty when there is no readable snapshot. */
  readMembers(): Promise<SnapshotRead> {
    return readSnapshot(this.file('members'));
  }

  /** Resolves to false when it kept a snapshot naming members rather than write an empty one. */
  writeMembers(members: readonly SnapshotMember[]): Promise<boolean> {
    return writeSnapshot(this.file('members'), members);
  }
}
