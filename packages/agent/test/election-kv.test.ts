// The replicated KV state machine (deterministic apply, CAS on the modify index, bounds that name
// themselves, snapshot/restore) and the linearizability checker the simulator runs over its histories.
import { describe, expect, it } from 'vitest';
import { type KvOperation, kvModel } from '../src/election/checker/kv-model.ts';
import { checkLinearizable } from '../src/election/checker/linearizability.ts';
import { decodeKvCommand, encodeKvCommand } from '../src/election/kv/kv-codec.ts';
import { KvStore } from '../src/election/kv/kv-store.ts';
import type { KvCommand } from '../src/election/kv/types.ts';
import type { Entry } from '../src/election/raft/types.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const entryOf = (index: number, cmd: KvCommand): Entry => ({
  index,
  term: 1,
  kind: 'normal',
  data: encodeKvCommand(cmd),
});

describe('kv store', () => {
  it('put, CAS on the modify index (0 = only if absent), delete', () => {
    const kv = new KvStore();
    expect(kv.apply(entryOf(3, { op: 'cas', key: 'k', index: 0, value: bytes('a') }))).toMatchObject({
      ok: true,
      index: 3,
      entry: { createIndex: 3, modifyIndex: 3 },
    });
    expect(kv.apply(entryOf(4, { op: 'cas', key: 'k', index: 0, value: bytes('b') }))).toEqual({
      ok: false,
      index: 4,
      error: 'cas-failed',
      current: 3,
    });
    expect(kv.apply(entryOf(5, { op: 'cas', key: 'k', index: 3, value: bytes('c') }))).toMatchObject({
      ok: true,
      entry: { createIndex: 3, modifyIndex: 5 },
    });
    expect(kv.apply(entryOf(6, { op: 'put', key: 'k', value: bytes('d') }))).toMatchObject({
      entry: { modifyIndex: 6 },
    });
    expect(new TextDecoder().decode(kv.get('k')!.value)).toBe('d');
    expect(kv.apply(entryOf(7, { op: 'cas-delete', key: 'k', index: 5 }))).toMatchObject({ ok: false, current: 6 });
    expect(kv.apply(entryOf(8, { op: 'cas-delete', key: 'k', index: 6 }))).toEqual({ ok: true, index: 8 });
    expect(kv.get('k')).toBeUndefined();
    expect(kv.bytes).toBe(0);
  });

  it('noop and config entries carry no command; a malformed command is a result, not a throw', () => {
    const kv = new KvStore();
    expect(kv.apply({ index: 1, term: 1, kind: 'noop', data: new Uint8Array() })).toBeUndefined();
    expect(kv.apply({ index: 2, term: 1, kind: 'normal', data: new Uint8Array([1, 9]) })).toMatchObject({
      ok: false,
      error: 'malformed',
    });
    expect(decodeKvCommand(new Uint8Array([1, 1, 0, 0, 0]))).toMatch(/malformed/);
  });

  it('bounds name the limit they break, at validation and again at apply', () => {
    const kv = new KvStore({ maxKeyBytes: 4, maxValueBytes: 8, maxTotalBytes: 16, maxKeys: 2 });
    expect(kv.validate({ op: 'put', key: 'toolong', value: bytes('x') })).toBe(
      'key is 7 bytes; the limit (maxKeyBytes) is 4',
    );
    expect(kv.validate({ op: 'put', key: '', value: bytes('x') })).toBe('key is empty');
    expect(kv.apply(entryOf(1, { op: 'put', key: 'k', value: bytes('123456789') }))).toMatchObject({
      error: 'limit',
      message: 'value is 9 bytes; the limit (maxValueBytes) is 8',
    });
    kv.apply(entryOf(2, { op: 'put', key: 'a', value: bytes('12345678') }));
    kv.apply(entryOf(3, { op: 'put', key: 'b', value: bytes('1234') }));
    expect(kv.apply(entryOf(4, { op: 'put', key: 'c', value: bytes('1') }))).toMatchObject({
      error: 'limit',
      message: 'the store holds 2 keys; the limit (maxKeys) is 2',
    });
    expect(kv.apply(entryOf(5, { op: 'put', key: 'b', value: bytes('12345678') }))).toMatchObject({
      error: 'limit',
      message: 'the store would hold 18 bytes; the limit (maxTotalBytes) is 16',
    });
  });

  it('is deterministic and snapshots to identical bytes that restore the same state', () => {
    const cmds: KvCommand[] = [];
    for (let i = 0; i < 200; i++) {
      const key = `k${(i * 7) % 13}`;
      cmds.push(
        i % 5 === 0
          ? { op: 'delete', key }
          : i % 3 === 0
            ? { op: 'cas', key, index: i - 3, value: bytes(`v${i}`) }
            : { op: 'put', key, value: bytes(`v${i}`) },
      );
    }
    const a = new KvStore();
    const b = new KvStore();
    const ra = cmds.map((c, i) => a.apply(entryOf(i + 1, c)));
    const rb = cmds.map((c, i) => b.apply(entryOf(i + 1, c)));
    expect(ra).toEqual(rb);
    expect(a.snapshot()).toEqual(b.snapshot());
    const restored = KvStore.restore(a.snapshot());
    expect(restored.list()).toEqual(a.list());
    expect(restored.bytes).toBe(a.bytes);
    expect(() => KvStore.restore(new Uint8Array([1, 5, 0, 0, 0]))).toThrow(/truncated/);
  });
});

describe('linearizability checker (KV model)', () => {
  const op = (
    client: number,
    call: number,
    ret: number,
    input: KvOperation['input'],
    output: KvOperation['output'],
  ) => ({
    client,
    call,
    ret,
    input,
    output,
  });

  it('accepts concurrent operations that some order explains', () => {
    const h: KvOperation[] = [
      op(1, 0, 10, { op: 'put', key: 'k', value: 'a' }, { index: 5 }),
      op(2, 1, 4, { op: 'get', key: 'k' }, { value: 'a', modifyIndex: 5 }), // overlaps the put: may see it
      op(3, 2, 3, { op: 'get', key: 'k' }, { value: undefined, modifyIndex: 0 }), // or not
      op(1, 11, 12, { op: 'cas', key: 'k', expect: 5, value: 'b' }, { ok: true, index: 7 }),
      op(2, 13, 14, { op: 'get', key: 'k' }, { value: 'b', modifyIndex: 7 }),
    ];
    expect(checkLinearizable(kvModel, h).result).toBe('ok');
  });

  it('refuses a stale read after a write completed', () => {
    const h: KvOperation[] = [
      op(1, 0, 1, { op: 'put', key: 'k', value: 'a' }, { index: 5 }),
      op(2, 2, 3, { op: 'get', key: 'k' }, { value: undefined, modifyIndex: 0 }),
    ];
    expect(checkLinearizable(kvModel, h).result).toBe('illegal');
  });

  it('refuses reads that go back in time, and writes applied out of log order', () => {
    const back: KvOperation[] = [
      op(1, 0, 10, { op: 'put', key: 'k', value: 'a' }, { index: 5 }),
      op(2, 1, 2, { op: 'get', key: 'k' }, { value: 'a', modifyIndex: 5 }),
      op(3, 3, 4, { op: 'get', key: 'k' }, { value: undefined, modifyIndex: 0 }),
    ];
    expect(checkLinearizable(kvModel, back).result).toBe('illegal');
    const order: KvOperation[] = [
      op(1, 0, 1, { op: 'put', key: 'k', value: 'a' }, { index: 9 }),
      op(2, 2, 3, { op: 'put', key: 'k', value: 'b' }, { index: 7 }),
    ];
    expect(checkLinearizable(kvModel, order).result).toBe('illegal');
  });

  it('lets an operation with an unknown outcome take effect any time after its call', () => {
    const h: KvOperation[] = [
      op(1, 0, Number.POSITIVE_INFINITY, { op: 'put', key: 'k', value: 'a' }, { index: 5 }),
      op(2, 1, 2, { op: 'get', key: 'k' }, { value: undefined, modifyIndex: 0 }),
      op(2, 30, 31, { op: 'get', key: 'k' }, { value: 'a', modifyIndex: 5 }),
    ];
    expect(checkLinearizable(kvModel, h).result).toBe('ok');
  });

  it('checks keys independently and reports the failing key', () => {
    const h: KvOperation[] = [
      op(1, 0, 1, { op: 'put', key: 'x', value: 'a' }, { index: 1 }),
      op(1, 2, 3, { op: 'put', key: 'y', value: 'b' }, { index: 2 }),
      op(2, 4, 5, { op: 'cas', key: 'y', expect: 1, value: 'c' }, { ok: true, index: 3 }),
    ];
    const r = checkLinearizable(kvModel, h);
    expect(r.result).toBe('illegal');
    expect(r.failedPart?.[0]?.input.key).toBe('y');
  });
});
