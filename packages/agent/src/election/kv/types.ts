/**
 * The replicated key-value state machine's public shapes. Commands travel in `normal` log entries
 * (encoded by `encodeKvCommand`), are applied in log order by `KvStore.apply`, and each entry's
 * log index is the key's modify index (what CAS compares against, Consul-style: CAS with index 0
 * means "only if absent").
 */
export type KvCommand =
  | { op: 'put'; key: string; value: Uint8Array }
  | { op: 'cas'; key: string; value: Uint8Array; index: number }
  | { op: 'delete'; key: string }
  /** A CAS-guarded delete: only if the key's modify index equals `index`. */
  | { op: 'cas-delete'; key: string; index: number };

export interface KvEntry {
  key: string;
  value: Uint8Array;
  /** The log index of the write that created the key (reset when it is deleted and re-created). */
  createIndex: number;
  /** The log index of the last write to the key: the CAS token. */
  modifyIndex: number;
}

/** The outcome of applying one command at log index `index`. */
export type KvResult =
  | { ok: true; index: number; entry?: KvEntry }
  /** `cas-failed`: the key's modify index differed (`current`, 0 when absent). */
  | { ok: false; index: number; error: 'cas-failed'; current: number }
  /** The command broke a bound (checked again at apply, so every replica rejects it alike). */
  | { ok: false; index: number; error: 'limit'; message: string }
  | { ok: false; index: number; error: 'malformed'; message: string };

/** Bounds of one store; an error names the bound it broke. */
export interface KvLimits {
  /** UTF-8 bytes of a key (default 512). */
  maxKeyBytes: number;
  /** Bytes of a value (default 64 KiB). */
  maxValueBytes: number;
  /** Sum of key and value bytes over all keys (default 4 MiB). */
  maxTotalBytes: number;
  /** Number of keys (default 10,000). */
  maxKeys: number;
}
