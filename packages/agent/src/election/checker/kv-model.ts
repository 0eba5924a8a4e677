import type { Model, Operation } from './linearizability.ts';

/** A client's KV operation as the checker sees it (values are strings: every write's value is unique). */
export type KvInput =
  | { op: 'put'; key: string; value: string }
  | { op: 'cas'; key: string; expect: number; value: string }
  | { op: 'delete'; key: string }
  | { op: 'get'; key: string };

/**
 * What the client observed. Writes carry the log index they were applied at (the modify index),
 * so the model also checks that one key's writes take effect in log order.
 */
export type KvOutput =
  | { index: number }
  | { ok: true; index: number }
  | { ok: false; index: number; current: number }
  | { value: string | undefined; modifyIndex: number };

interface KeyState {
  value: string | undefined;
  /** The modify index (0 when absent): what CAS compares. */
  mod: number;
  /** The latest log index that touched the key (failed CAS included). */
  last: number;
}

export type KvOperation = Operation<KvInput, KvOutput>;

/** One key's register with a modify index, Consul-style CAS (0 = only if absent). Partitioned by key. */
export const kvModel: Model<KeyState, KvInput, KvOutput> = {
  init: () => ({ value: undefined, mod: 0, last: 0 }),
  key: (s) => `${s.value ?? ''}\u0000${s.mod}\u0000${s.last}\u0000${s.value === undefined ? 0 : 1}`,
  partition(ops) {
    const byKey = new Map<string, KvOperation[]>();
    for (const op of ops) {
      const list = byKey.get(op.input.key) ?? [];
      list.push(op);
      byKey.set(op.input.key, list);
    }
    return [...byKey.values()];
  },
  step(s, input, output) {
    switch (input.op) {
      case 'get': {
        const o = output as { value: string | undefined; modifyIndex: number };
        return o.value === s.value && o.modifyIndex === s.mod ? s : undefined;
      }
      case 'put': {
        const { index } = output as { index: number };
        return index > s.last ? { value: input.value, mod: index, last: index } : undefined;
      }
      case 'delete': {
        const { index } = output as { index: number };
        return index > s.last ? { value: undefined, mod: 0, last: index } : undefined;
      }
      case 'cas': {
        const o = output as { ok: boolean; index: number; current?: number };
        if (o.index <= s.last) return undefined;
        if (o.ok) return s.mod === input.expect ? { value: input.value, mod: o.index, last: o.index } : undefined;
        return s.mod !== input.expect && o.current === s.mod ? { ...s, last: o.index } : undefined;
      }
    }
  },
};
