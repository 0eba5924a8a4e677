import { utf8Length } from '../raft/config.ts';
import type { Entry } from '../raft/types.ts';
import { decodeKvCommand, decodeKvSnapshot, encodeKvSnapshot } from './kv-codec.ts';
import type { KvCommand, KvEntry, KvLimits, KvResult } from './types.ts';

export const DEFAULT_KV_LIMITS: KvLimits = {
  maxKeyBytes: 512,
  maxValueBytes: 64 * 1024,
  maxTotalBytes: 4 * 1024 * 1024,
  maxKeys: 10_000,
};

/**
 * The replicated key-value state machine of one election group. `apply` is deterministic: the
 * same entries in the same order give every replica the same state, results and errors (the
 * bounds are checked again here, not only before proposing, so a leader with other limits cannot
 * make replicas diverge). Each write's log index is the key's modify index, the CAS token.
 */
export class KvStore {
  readonly limits: KvLimits;
  private readonly data = new Map<string, KvEntry>();
  private totalBytes = 0;

  constructor(limits: KvLimits = DEFAULT_KV_LIMITS) {
    this.limits = limits;
  }

  /** Why `cmd` breaks a bound, naming it (for a 4xx before proposing), or undefined. */
  validate(cmd: KvCommand): string | undefined {
    const keyBytes = utf8Length(cmd.key);
    if (keyBytes === 0) return 'key is empty';
    if (keyBytes > this.limits.maxKeyBytes) {
      return `key is ${keyBytes} bytes; the limit (maxKeyBytes) is ${this.limits.maxKeyBytes}`;
    }
    if ((cmd.op === 'put' || cmd.op === 'cas') && cmd.value.length > this.limits.maxValueBytes) {
      return `value is ${cmd.value.length} bytes; the limit (maxValueBytes) is ${this.limits.maxValueBytes}`;
    }
    return undefined;
  }

  /** Applies a committed entry; undefined for entries that carry no command (noop, config). */
  apply(entry: Entry): KvResult | undefined {
    if (entry.kind !== 'normal') return undefined;
    const cmd = decodeKvCommand(entry.data);
    if (typeof cmd === 'string') return { ok: false, index: entry.index, error: 'malformed', message: cmd };
    return this.applyCommand(cmd, entry.index);
  }

  applyCommand(cmd: KvCommand, index: number): KvResult {
    const invalid = this.validate(cmd);
    if (invalid) return { ok: false, index, error: 'limit', message: invalid };
    const current = this.data.get(cmd.key);
    if ((cmd.op === 'cas' || cmd.op === 'cas-delete') && (current?.modifyIndex ?? 0) !== cmd.index) {
      return { ok: false, index, error: 'cas-failed', current: current?.modifyIndex ?? 0 };
    }
    if (cmd.op === 'delete' || cmd.op === 'cas-delete') {
      if (current) {
        this.data.delete(cmd.key);
        this.totalBytes -= this.sizeOf(current.key, current.value);
      }
      return { ok: true, index };
    }
    const added = this.sizeOf(cmd.key, cmd.value) - (current ? this.sizeOf(current.key, current.value) : 0);
    if (this.totalBytes + added > this.limits.maxTotalBytes) {
      return {
        ok: false,
        index,
        error: 'limit',
        message: `the store would hold ${this.totalBytes + added} bytes; the limit (maxTotalBytes) is ${this.limits.maxTotalBytes}`,
      };
    }
    if (!current && this.data.size >= this.limits.maxKeys) {
      return {
        ok: false,
        index,
        error: 'limit',
        message: `the store holds ${this.data.size} keys; the limit (maxKeys) is ${this.limits.maxKeys}`,
      };
    }
    const entry: KvEntry = {
      key: cmd.key,
      value: cmd.value,
      createIndex: current?.createIndex ?? index,
      modifyIndex: index,
    };
    this.data.set(cmd.key, entry);
    this.totalBytes += added;
    return { ok: true, index, entry };
  }

  get(key: string): KvEntry | undefined {
    return this.data.get(key);
  }

  /** Keys starting with `prefix`, sorted. */
  list(prefix = ''): KvEntry[] {
    return [...this.data.values()].filter((e) => e.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  get size(): number {
    return this.data.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** The whole state, keys sorted (identical bytes on every replica at the same index). */
  snapshot(): Uint8Array {
    return encodeKvSnapshot(this.list(), this.data.size);
  }

  /** A store holding a snapshot's state; throws naming the problem when `data` is not one. */
  static restore(data: Uint8Array, limits: KvLimits = DEFAULT_KV_LIMITS): KvStore {
    const store = new KvStore(limits);
    if (data.length === 0) return store;
    for (const e of decodeKvSnapshot(data)) {
      store.data.set(e.key, e);
      store.totalBytes += store.sizeOf(e.key, e.value);
    }
    return store;
  }

  private sizeOf(key: string, value: Uint8Array): number {
    return utf8Length(key) + value.length;
  }
}
