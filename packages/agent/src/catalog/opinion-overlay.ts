// Opinion updates (opinion-codec.ts) held on top of the records: per observer node, the newest
// opinion per endpoint that is newer than the observer's record. Pure: no I/O, no clocks.
//
// The record stays the complete state and the repair path (anti-entropy carries it); an update is
// a newer part of it that arrived first. So the rule is one comparison of versions from the
// author's single counter: an update not newer than the record held is stale, and a record at a
// version >= an entry's supersedes the entry (it was built after, and holds that opinion or its
// successor). Merging is a join (newest version per endpoint, ties by the greater JSON), so agents
// that received the same updates and records in any order read the same opinions.

import { compareVersion, type EndpointOpinion, MAX_OPINIONS_PER_NODE, type NodeRecord } from '@vigil/protocol';
import type { OpinionUpdate } from './opinion-codec.ts';

interface Entry {
  readonly epoch: number;
  readonly seq: number;
  readonly opinion: EndpointOpinion;
  readonly json: string;
}

type Version = { readonly epoch: number; readonly seq: number };

export type OverlayResult = 'applied' | 'stale' | 'full';

const endpointKey = (o: Pick<EndpointOpinion, 'node' | 'id'>) => `${o.node}\u0000${o.id}`;

export class OpinionOverlay {
  private readonly byNode = new Map<string, Map<string, Entry>>();

  /**
   * Takes an update for `update.node` given the version of its record held (if any). 'full' when
   * the node already has MAX_OPINIONS_PER_NODE pending endpoints and the update names new ones
   * (more than an honest author holds at once: the excess is dropped, the record repairs it).
   */
  apply(update: OpinionUpdate, held: Version | undefined): OverlayResult {
    if (held !== undefined && compareVersion(update, held) <= 0) return 'stale';
    let entries = this.byNode.get(update.node);
    let changed = false;
    let full = false;
    for (const opinion of update.opinions) {
      const k = endpointKey(opinion);
      const prev = entries?.get(k);
      if (prev === undefined && (entries?.size ?? 0) >= MAX_OPINIONS_PER_NODE) {
        full = true;
        continue;
      }
      const json = JSON.stringify(opinion);
      if (prev !== undefined) {
        const cmp = compareVersion(update, prev);
        if (cmp < 0 || (cmp === 0 && json <= prev.json)) continue;
      }
      if (entries === undefined) {
        entries = new Map();
        this.byNode.set(update.node, entries);
      }
      entries.set(k, { epoch: update.epoch, seq: update.seq, opinion, json });
      changed = true;
    }
    return changed ? 'applied' : full ? 'full' : 'stale';
  }

  /** A record of `node` at `version` is now held: drops the entries it supersedes. */
  recordHeld(node: string, version: Version): void {
    const entries = this.byNode.get(node);
    if (entries === undefined) return;
    for (const [k, e] of entries) if (compareVersion(e, version) <= 0) entries.delete(k);
    if (entries.size === 0) this.byNode.delete(node);
  }

  forget(node: string): void {
    this.byNode.delete(node);
  }

  /** Pending entries, all nodes. */
  get size(): number {
    let n = 0;
    for (const entries of this.byNode.values()) n += entries.size;
    return n;
  }

  /** The record with its pending opinions applied (sorted by endpoint, as the author sorts them). */
  merge(record: NodeRecord): NodeRecord {
    const entries = this.byNode.get(record.node);
    if (entries === undefined) return record;
    const merged = new Map<string, EndpointOpinion>();
    for (const o of record.opinions ?? []) merged.set(endpointKey(o), o);
    for (const [k, e] of entries) if (compareVersion(e, record) > 0) merged.set(k, e.opinion);
    const opinions = [...merged.values()].sort((a, b) =>
      a.node < b.node ? -1 : a.node > b.node ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
    );
    return { ...record, opinions };
  }
}
