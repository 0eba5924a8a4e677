// Where an election group's Raft state lives: DATA_DIR/elections/<group>/.
//
//   state.json     hard state (term, vote, commit), replaced atomically
//   snapshot.json  the latest snapshot (state machine image, configuration, token), atomically
//   log.jsonl      entries after the snapshot, one JSON line each, appended and fsynced
//
// Every write is synchronous and fsynced before `persist` returns: the runner sends the Ready's
// messages only after it, so nothing is acknowledged that a crash could lose (Raft's rule). A crash
// in the middle of an append leaves a torn last line, which `load` drops: it was never fsynced, so
// never acknowledged. A suffix replacement (a new leader overwrote uncommitted entries) or a
// compaction rewrites the log atomically.

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { fsyncDir, writeFileAtomicSync } from '../data-dir/atomic-write.ts';
import type { Entry, HardState, RaftStorage, Ready, Snapshot } from './raft/types.ts';

export type PersistStep = Pick<Ready, 'snapshot' | 'compacted' | 'entries' | 'hardState'>;

/** The disk (or, in tests, memory) of one group's Raft node. */
export interface GroupStorage {
  /** What a restarted node reads back; undefined for a group never persisted here. */
  load(): RaftStorage | undefined;
  /** Durable when it returns. */
  persist(step: PersistStep): void;
  close(): void;
}

/** Group names become folder names: the same rule as service names, and never `.` or `..`. */
export const GROUP_NAME = /^(?!\.{1,2}$)[A-Za-z0-9._-]{1,128}$/;

export class StorageError extends Error {
  override readonly name = 'StorageError';
}

const b64 = (data: Uint8Array) => Buffer.from(data).toString('base64');
const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'base64'));

const entrySchema = z.object({
  index: z.number().int().min(1),
  term: z.number().int().min(0),
  kind: z.enum(['normal', 'config', 'noop']),
  data: z.string(),
});
const hardStateSchema = z.object({
  term: z.number().int().min(0),
  vote: z.string().optional(),
  commit: z.number().int().min(0),
});
const snapshotSchema = z.object({
  index: z.number().int().min(0),
  term: z.number().int().min(0),
  voters: z.array(z.string()),
  token: z.number().int().min(0),
  data: z.string(),
});

const entryLine = (e: Entry) =>
  `${JSON.stringify({ index: e.index, term: e.term, kind: e.kind, data: b64(e.data) })}\n`;

/** Keeps the entries in memory too: a rewrite needs them, and compaction keeps them few. */
export class FileGroupStorage implements GroupStorage {
  readonly dir: string;
  private entries: Entry[] = [];
  private snapshot: Snapshot | undefined;
  private fd: number | undefined;

  constructor(dataDir: string, group: string) {
    if (!GROUP_NAME.test(group)) throw new StorageError(`election group name ${JSON.stringify(group)} is not valid`);
    this.dir = join(dataDir, 'elections', group);
  }

  private path(name: string): string {
    return join(this.dir, name);
  }

  load(): RaftStorage | undefined {
    const statePath = this.path('state.json');
    if (!existsSync(statePath)) {
      // A crash before the first hard state: whatever else was written was never acknowledged.
      rmSync(this.path('log.jsonl'), { force: true });
      rmSync(this.path('snapshot.json'), { force: true });
      return undefined;
    }
    const parse = <T>(schema: z.ZodType<T>, text: string, what: string): T => {
      try {
        return schema.parse(JSON.parse(text));
      } catch (err) {
        throw new StorageError(
          `${what} in ${this.dir} is corrupt (${(err as Error).message}); remove the folder to rejoin the group empty`,
        );
      }
    };
    const hs = parse(hardStateSchema, readFileSync(statePath, 'utf8'), 'state.json');
    const hardState: HardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
    const snapPath = this.path('snapshot.json');
    if (existsSync(snapPath)) {
      const s = parse(snapshotSchema, readFileSync(snapPath, 'utf8'), 'snapshot.json');
      this.snapshot = { ...s, data: bytes(s.data) };
    }
    const logPath = this.path('log.jsonl');
    const entries: Entry[] = [];
    if (existsSync(logPath)) {
      const lines = readFileSync(logPath, 'utf8').split('\n');
      const complete = lines.slice(0, -1); // the text after the last newline is a torn append
      for (const [i, line] of complete.entries()) {
        const e = parse(entrySchema, line, `log.jsonl line ${i + 1}`);
        const entry: Entry = { index: e.index, term: e.term, kind: e.kind, data: bytes(e.data) };
        if (this.snapshot && entry.index <= this.snapshot.index) continue;
        const last = entries.at(-1);
        const expected = last ? last.index + 1 : (this.snapshot?.index ?? 0) + 1;
        if (entry.index !== expected) {
          throw new StorageError(
            `log.jsonl in ${this.dir} has a gap at index ${entry.index}; remove the folder to rejoin the group empty`,
          );
        }
        entries.push(entry);
      }
      // Drop the torn tail on disk too, so the next append starts on a line of its own.
      if (lines.at(-1) !== '') this.rewrite(entries);
    }
    this.entries = entries;
    return { hardState, entries: [...entries], ...(this.snapshot ? { snapshot: this.snapshot } : {}) };
  }

  persist(step: PersistStep): void {
    if (!step.snapshot && !step.compacted && step.entries.length === 0 && !step.hardState) return;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const snap = step.snapshot ?? step.compacted;
    if (snap) {
      writeFileAtomicSync(this.path('snapshot.json'), JSON.stringify({ ...snap, data: b64(snap.data) }));
      this.snapshot = snap;
      this.entries = this.entries.filter((e) => e.index > snap.index);
      this.rewrite(this.entries);
    }
    if (step.entries.length > 0) {
      const first = step.entries[0]!.index;
      const last = this.entries.at(-1);
      if (last !== undefined && first <= last.index) {
        this.entries = [...this.entries.filter((e) => e.index < first), ...step.entries];
        this.rewrite(this.entries);
      } else {
        this.entries.push(...step.entries);
        this.append(step.entries);
      }
    }
    if (step.hardState) {
      const { term, vote, commit } = step.hardState;
      writeFileAtomicSync(this.path('state.json'), JSON.stringify({ term, vote, commit }));
    }
  }

  private append(entries: readonly Entry[]): void {
    if (this.fd === undefined) {
      const path = this.path('log.jsonl');
      const created = !existsSync(path);
      this.fd = openSync(path, 'a', 0o600);
      if (created) fsyncDir(this.dir);
    }
    writeSync(this.fd, entries.map(entryLine).join(''));
    fsyncSync(this.fd);
  }

  private rewrite(entries: readonly Entry[]): void {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
    writeFileAtomicSync(this.path('log.jsonl'), entries.map(entryLine).join(''));
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** A disk that survives a simulated crash only as far as `persist` went: for tests. */
export class MemoryGroupStorage implements GroupStorage {
  private state: RaftStorage | undefined;

  load(): RaftStorage | undefined {
    return this.state && structuredClone(this.state);
  }

  persist(step: PersistStep): void {
    const s: RaftStorage = this.state ?? { hardState: { term: 0, vote: undefined, commit: 0 }, entries: [] };
    const snap = step.snapshot ?? step.compacted;
    if (snap) {
      s.snapshot = structuredClone(snap);
      s.entries = s.entries.filter((e) => e.index > snap.index);
    }
    if (step.entries.length > 0) {
      const first = step.entries[0]!.index;
      s.entries = [...s.entries.filter((e) => e.index < first), ...structuredClone(step.entries)];
    }
    if (step.hardState) s.hardState = { ...step.hardState };
    this.state = s;
  }

  close(): void {}
}
