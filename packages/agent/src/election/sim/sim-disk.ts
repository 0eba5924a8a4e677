import type { Entry, HardState, RaftStorage, Ready, Snapshot } from '../raft/types.ts';

/**
 * A node's disk in the simulator: only what was fsynced. A Ready's writes become durable when its
 * fsync completes; a crash before that loses them all (the worst a real page cache can do).
 */
export interface DurableState {
  hardState: HardState;
  entries: Entry[];
  snapshot: Snapshot | undefined;
}

export function emptyDisk(): DurableState {
  return { hardState: { term: 0, vote: undefined, commit: 0 }, entries: [], snapshot: undefined };
}

/** The disk after a Ready's writes, in the order the Ready contract gives (a new object; `disk` is untouched). */
export function writeReady(disk: DurableState, ready: Ready): DurableState {
  let { entries, snapshot } = disk;
  if (ready.snapshot) {
    snapshot = ready.snapshot;
    entries = [];
  }
  if (ready.compacted && (!snapshot || ready.compacted.index > snapshot.index)) {
    snapshot = ready.compacted;
    const from = snapshot.index;
    entries = entries.filter((e) => e.index > from);
  }
  if (ready.entries.length > 0) {
    const first = ready.entries[0]!.index;
    entries = entries.filter((e) => e.index < first).concat(ready.entries);
  }
  return { hardState: ready.hardState ?? disk.hardState, entries, snapshot };
}

export function toStorage(disk: DurableState): RaftStorage {
  const storage: RaftStorage = { hardState: { ...disk.hardState }, entries: [...disk.entries] };
  if (disk.snapshot) storage.snapshot = disk.snapshot;
  return storage;
}
