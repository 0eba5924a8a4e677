// The newest verified record per node. Pure: no I/O, no clocks. The merge is routing's one rule
// (compareRecords: newest (epoch, seq), then the greater canonical JSON), a join, so any order and
// any duplicates of the same deliveries end in the same store, and two agents holding different
// records of one version (an author that reused a version) still converge on the same one.

import { Buffer } from 'node:buffer';
import { compareVersion, type NodeRecord } from '@vigil/protocol';
import { compareRecords } from '../routing/catalog-merge.ts';
import type { SignedRecord } from './record-codec.ts';

/** One entry of a sync digest: the version a side holds for a node. */
export interface DigestEntry {
  readonly node: string;
  readonly epoch: number;
  readonly seq: number;
}

export type MergeResult =
  | { readonly changed: true; readonly previous: NodeRecord | undefined }
  | { readonly changed: false; readonly reason: 'stale' | 'duplicate' | 'full' };

export class RecordStore {
  private readonly entries = new Map<string, SignedRecord>();
  private readonly maxNodes: number;

  constructor(maxNodes: number) {
    this.maxNodes = maxNodes;
  }

  get size(): number {
    return this.entries.size;
  }

  get(node: string): SignedRecord | undefined {
    return this.entries.get(node);
  }

  /** Would `signed` replace what we hold (it wins the merge rule, or is first for its node)? */
  isNewer(signed: SignedRecord): boolean {
    const held = this.entries.get(signed.record.node);
    return held === undefined || compareSigned(signed, held) > 0;
  }

  /** Whether a record of this version would be newer than ours: for the author, who bumps seq. */
  isNewerVersion(record: Pick<NodeRecord, 'node' | 'epoch' | 'seq'>): boolean {
    const held = this.entries.get(record.node);
    return held === undefined || compareVersion(record, held.record) > 0;
  }

  /** Keeps `signed` when it wins the merge rule against what we hold for its node. */
  merge(signed: SignedRecord): MergeResult {
    const held = this.entries.get(signed.record.node);
    if (held !== undefined) {
      const cmp = compareSigned(signed, held);
      if (cmp < 0) return { changed: false, reason: 'stale' };
      if (cmp === 0) return { changed: false, reason: 'duplicate' };
    } else if (this.entries.size >= this.maxNodes) {
      return { changed: false, reason: 'full' };
    }
    this.entries.set(signed.record.node, signed);
    return { changed: true, previous: held?.record };
  }

  delete(node: string): NodeRecord | undefined {
    const held = this.entries.get(node);
    this.entries.delete(node);
    return held?.record;
  }

  values(): IterableIterator<SignedRecord> {
    return this.entries.values();
  }

  digest(): DigestEntry[] {
    return [...this.entries.values()].map(({ record }) => ({
      node: record.node,
      epoch: record.epoch,
      seq: record.seq,
    }));
  }

  /** The records the holder of `digest` lacks or holds in an older version. */
  missingFrom(digest: ReadonlyMap<string, DigestEntry>): SignedRecord[] {
    const out: SignedRecord[] = [];
    for (const signed of this.entries.values()) {
      const theirs = digest.get(signed.record.node);
      if (theirs === undefined || compareVersion(signed.record, theirs) > 0) out.push(signed);
    }
    return out;
  }
}

/** compareRecords, without its canonical JSON for the common case of a copy of the same bytes. */
function compareSigned(a: SignedRecord, b: SignedRecord): number {
  const byVersion = compareVersion(a.record, b.record);
  if (byVersion !== 0) return byVersion;
  if (Buffer.compare(a.envelope, b.envelope) === 0) return 0;
  return compareRecords(a.record, b.record);
}
