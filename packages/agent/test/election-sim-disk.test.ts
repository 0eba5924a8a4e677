// The simulator's disk follows the Ready contract exactly: entries replace the persisted suffix,
// a leader's snapshot replaces the whole log, a compaction drops the prefix, and nothing changes
// until the caller swaps in the written state (the fsync point the simulator's crashes race).
import { describe, expect, it } from 'vitest';
import type { Entry, Ready, Snapshot } from '../src/election/raft/types.ts';
import { emptyDisk, toStorage, writeReady } from '../src/election/sim/sim-disk.ts';

const e = (index: number, term: number): Entry => ({ index, term, kind: 'normal', data: new Uint8Array([index]) });
const ready = (r: Partial<Ready>): Ready => ({ entries: [], messages: [], committed: [], readStates: [], ...r });
const snap = (index: number): Snapshot => ({ index, term: 2, voters: ['a'], token: 1, data: new Uint8Array() });

describe('simulated disk', () => {
  it('entries replace every persisted entry from their first index', () => {
    const d1 = writeReady(emptyDisk(), ready({ entries: [e(1, 1), e(2, 1), e(3, 1)] }));
    const d2 = writeReady(d1, ready({ entries: [e(2, 2)], hardState: { term: 2, vote: 'b', commit: 1 } }));
    expect(d2.entries.map((x) => [x.index, x.term])).toEqual([
      [1, 1],
      [2, 2],
    ]);
    expect(d2.hardState).toEqual({ term: 2, vote: 'b', commit: 1 });
    expect(d1.entries).toHaveLength(3); // the earlier state is untouched: a crash before the swap keeps it
  });

  it("a leader's snapshot replaces the whole log; a compaction drops only the prefix", () => {
    const d1 = writeReady(emptyDisk(), ready({ entries: [e(1, 1), e(2, 1), e(3, 1)] }));
    expect(writeReady(d1, ready({ snapshot: snap(5) })).entries).toEqual([]);
    const compacted = writeReady(d1, ready({ compacted: snap(2) }));
    expect(compacted.entries.map((x) => x.index)).toEqual([3]);
    expect(toStorage(compacted).snapshot?.index).toBe(2);
  });
});
