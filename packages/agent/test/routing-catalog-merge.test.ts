// The catalog merge: a last-writer-wins map on (epoch, seq). Examples, then fast-check laws:
// commutative, associative, idempotent, and folding single records equals merging the lot.

import type { NodeRecord } from '@vigil/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyRecord,
  catalogVersions,
  compareRecords,
  liveRecords,
  mergeCatalogs,
  pruneUnknown,
} from '../src/routing/index.ts';
import { inst, member, rec } from './routing-fixtures.ts';

describe('catalog merge (examples)', () => {
  const v1 = rec('n', [inst('x', { health: 'passing' })], { epoch: 1, seq: 5 });
  const v2 = rec('n', [inst('x', { health: 'critical' })], { epoch: 1, seq: 6 });
  const reboot = rec('n', [inst('x')], { epoch: 2, seq: 0 });

  it('keeps the newest (epoch, seq) per node; a new epoch beats any seq', () => {
    expect(mergeCatalogs([v2], [v1])).toEqual([v2]);
    expect(mergeCatalogs([v1, v2, reboot])).toEqual([reboot]);
  });

  it('sorts by node and keeps one record per node', () => {
    const a = rec('b', []);
    const b = rec('a', []);
    expect(mergeCatalogs([a, b, a]).map((r) => r.node)).toEqual(['a', 'b']);
  });

  it('breaks a tie between different records of one version by content, in either order', () => {
    const other = rec('n', [inst('y')], { epoch: 1, seq: 5 });
    expect(mergeCatalogs([v1], [other])).toEqual(mergeCatalogs([other], [v1]));
    expect(compareRecords(v1, other)).toBe(-compareRecords(other, v1));
  });

  it('applyRecord reports whether the record was new, and leaves a stale one out', () => {
    const first = applyRecord([], v2);
    expect(first.accepted).toBe(true);
    const stale = applyRecord(first.catalog, v1);
    expect(stale.accepted).toBe(false);
    expect(stale.catalog).toBe(first.catalog);
    expect(applyRecord(first.catalog, v2).accepted).toBe(false);
    expect(applyRecord(first.catalog, reboot).catalog).toEqual([reboot]);
  });

  it('keeps the versions of dead and left nodes (an old copy cannot come back) but routes without them', () => {
    const catalog = mergeCatalogs([v2, rec('m', [inst('y')]), rec('o', [inst('z')])]);
    const view = [member('n', 'dead'), member('m', 'left'), member('o', 'suspect', true)];
    expect(liveRecords(catalog, view).map((r) => r.node)).toEqual(['o']);
    expect(applyRecord(catalog, v1).accepted).toBe(false);
    expect(catalogVersions(catalog)).toEqual([
      { node: 'm', epoch: 1, seq: 1 },
      { node: 'n', epoch: 1, seq: 6 },
      { node: 'o', epoch: 1, seq: 1 },
    ]);
  });

  it('prunes only the nodes membership no longer knows', () => {
    const catalog = mergeCatalogs([v2, rec('m', [])]);
    expect(pruneUnknown(catalog, [member('n', 'dead')]).map((r) => r.node)).toEqual(['n']);
  });

  it('does not change its inputs', () => {
    const a = Object.freeze([Object.freeze(v1)]);
    const b = Object.freeze([Object.freeze(v2)]);
    expect(() => mergeCatalogs(a, b)).not.toThrow();
    expect(() => applyRecord(a, v2)).not.toThrow();
  });
});

/** Few nodes, versions and contents, so that collisions (including same-version conflicts) are common. */
const recordArb: fc.Arbitrary<NodeRecord> = fc
  .record({
    node: fc.constantFrom('n1', 'n2', 'n3', 'n4'),
    epoch: fc.integer({ min: 1, max: 3 }),
    seq: fc.integer({ min: 0, max: 3 }),
    health: fc.constantFrom('passing', 'warning', 'critical') as fc.Arbitrary<'passing' | 'warning' | 'critical'>,
    ids: fc.uniqueArray(fc.constantFrom('a', 'b', 'c'), { maxLength: 3 }),
  })
  .map(({ node, epoch, seq, health, ids }) =>
    rec(
      node,
      ids.map((id) => inst(id, { health })),
      { epoch, seq },
    ),
  );

const batch = fc.array(recordArb, { maxLength: 12 });
const json = (x: unknown) => JSON.stringify(x);

describe('catalog merge (laws)', () => {
  it('is commutative', () => {
    fc.assert(fc.property(batch, batch, (a, b) => json(mergeCatalogs(a, b)) === json(mergeCatalogs(b, a))));
  });

  it('is associative', () => {
    fc.assert(
      fc.property(batch, batch, batch, (a, b, c) => {
        const left = mergeCatalogs(mergeCatalogs(a, b), c);
        const right = mergeCatalogs(a, mergeCatalogs(b, c));
        expect(right).toEqual(left);
        return json(left) === json(right);
      }),
    );
  });

  it('is idempotent, and insensitive to order and duplicates', () => {
    fc.assert(
      fc.property(batch, fc.func(fc.integer()), (a, key) => {
        const m = mergeCatalogs(a);
        const shuffled = [...a, ...a].sort((x, y) => key(x) - key(y));
        return json(mergeCatalogs(m, m)) === json(m) && json(mergeCatalogs(shuffled)) === json(m);
      }),
    );
  });

  it('folding applyRecord one record at a time equals merging the lot', () => {
    fc.assert(
      fc.property(batch, (a) => {
        let catalog: readonly NodeRecord[] = [];
        for (const r of a) catalog = applyRecord(catalog, r).catalog;
        return json(catalog) === json(mergeCatalogs(a));
      }),
    );
  });

  it('keeps, per node, a record at least as new as every input for it', () => {
    fc.assert(
      fc.property(batch, (a) => {
        const m = mergeCatalogs(a);
        for (const r of a) {
          const held = m.find((x) => x.node === r.node);
          if (held === undefined || compareRecords(held, r) < 0) return false;
        }
        return m.every((r, i) => i === 0 || m[i - 1]!.node < r.node);
      }),
    );
  });
});
