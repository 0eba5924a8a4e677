import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileGroupStorage, MemoryGroupStorage, StorageError } from '../src/election/group-storage.ts';
import type { Entry } from '../src/election/raft/types.ts';

const entry = (index: number, term: number, text = `e${index}`): Entry => ({
  index,
  term,
  kind: 'normal',
  data: new TextEncoder().encode(text),
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'vigil-elect-'));
  dirs.push(d);
  return d;
}

describe.each([
  ['file', (dir: string) => new FileGroupStorage(dir, 'db')],
  ['memory', () => new MemoryGroupStorage()],
])('%s group storage', (_kind, make) => {
  it('reads back what was persisted, with a replaced suffix and a compaction', () => {
    const dir = dataDir();
    const first = make(dir);
    expect(first.load()).toBeUndefined();
    first.persist({ entries: [entry(1, 1), entry(2, 1), entry(3, 1)], hardState: { term: 1, vote: 'a', commit: 1 } });
    // a new leader overwrote the uncommitted 3 and went on
    first.persist({ entries: [entry(3, 2, 'x'), entry(4, 2)], hardState: { term: 2, vote: 'b', commit: 3 } });
    first.persist({
      compacted: { index: 2, term: 1, voters: ['a', 'b', 'c'], token: 1, data: new Uint8Array([9]) },
      entries: [],
    });
    first.close();
    const second = kind(make, dir, first);
    const loaded = second.load()!;
    expect(loaded.hardState).toEqual({ term: 2, vote: 'b', commit: 3 });
    expect(loaded.snapshot).toMatchObject({ index: 2, term: 1, voters: ['a', 'b', 'c'], token: 1 });
    expect([...loaded.snapshot!.data]).toEqual([9]);
    expect(loaded.entries.map((e) => [e.index, e.term, new TextDecoder().decode(e.data)])).toEqual([
      [3, 2, 'x'],
      [4, 2, 'e4'],
    ]);
    second.close();
  });
});

/** The memory storage is its own disk: a "restart" reuses the instance. */
function kind(
  make: (dir: string) => import('../src/election/group-storage.ts').GroupStorage,
  dir: string,
  prev: unknown,
) {
  return prev instanceof MemoryGroupStorage ? prev : make(dir);
}

describe('file group storage after a crash', () => {
  it('drops a torn last line (an append that was never fsynced) and appends after it', () => {
    const dir = dataDir();
    const s = new FileGroupStorage(dir, 'db');
    s.persist({ entries: [entry(1, 1), entry(2, 1)], hardState: { term: 1, vote: 'a', commit: 2 } });
    s.close();
    appendFileSync(join(s.dir, 'log.jsonl'), '{"index":3,"term":1,"ki');
    const r = new FileGroupStorage(dir, 'db');
    expect(r.load()!.entries.map((e) => e.index)).toEqual([1, 2]);
    r.persist({ entries: [entry(3, 1)] });
    r.close();
    expect(new FileGroupStorage(dir, 'db').load()!.entries.map((e) => e.index)).toEqual([1, 2, 3]);
    expect(readFileSync(join(s.dir, 'log.jsonl'), 'utf8').split('\n')).toHaveLength(4);
  });

  it('names the folder to remove when a file is corrupt, and refuses bad group names', () => {
    const dir = dataDir();
    const s = new FileGroupStorage(dir, 'db');
    s.persist({ entries: [entry(1, 1)], hardState: { term: 1, vote: undefined, commit: 0 } });
    s.close();
    appendFileSync(join(s.dir, 'log.jsonl'), 'garbage\n');
    expect(() => new FileGroupStorage(dir, 'db').load()).toThrow(/log.jsonl line 2 .*remove the folder/);
    expect(() => new FileGroupStorage(dir, '..')).toThrow(StorageError);
    expect(() => new FileGroupStorage(dir, 'a/b')).toThrow(StorageError);
  });
});
