import type { Entry, Snapshot } from './types.ts';

/**
 * The in-memory log: the latest snapshot (its index and term stand in for the compacted prefix)
 * and the entries after it. It tracks which suffix changed since the last Ready (`unstableFrom`)
 * and up to where memory equals disk (`stableLast`), so the leader counts itself toward a commit
 * only for entries it has fsynced.
 */
export class RaftLog {
  snapshot: Snapshot | undefined;
  private snapIndex = 0;
  private snapTerm = 0;
  private entries: Entry[] = [];
  /** The lowest index changed in memory and not yet handed to a Ready (Infinity: none). */
  unstableFrom = Number.POSITIVE_INFINITY;
  /** Memory equals disk up to here. */
  stableLast = 0;

  constructor(snapshot: Snapshot | undefined, entries: readonly Entry[]) {
    if (snapshot) {
      this.snapshot = snapshot;
      this.snapIndex = snapshot.index;
      this.snapTerm = snapshot.term;
    }
    let expect = this.snapIndex + 1;
    for (const e of entries) {
      if (e.index < expect) continue; // already covered by the snapshot
      if (e.index !== expect) break; // a gap: what follows cannot be trusted
      this.entries.push(e);
      expect++;
    }
    this.stableLast = this.lastIndex();
  }

  firstIndex(): number {
    return this.snapIndex + 1;
  }

  lastIndex(): number {
    return this.snapIndex + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.at(-1)?.term ?? this.snapTerm;
  }

  /** The term at `index`, or undefined when compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.snapIndex) return this.snapTerm;
    if (index < this.snapIndex || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapIndex - 1]!.term;
  }

  entry(index: number): Entry | undefined {
    if (index <= this.snapIndex) return undefined;
    return this.entries[index - this.snapIndex - 1];
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft's election restriction: is (lastIndex, lastTerm) at least as up to date as this log? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [lo, hi] (inclusive), at most `maxBytes` of data (always at least one entry). */
  slice(lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): Entry[] {
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = Math.max(lo, this.firstIndex()); i <= Math.min(hi, this.lastIndex()); i++) {
      const e = this.entries[i - this.snapIndex - 1]!;
      bytes += e.data.length;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** Appends at the end (the leader's own entries). */
  append(entry: Entry): void {
    this.entries.push(entry);
    this.unstableFrom = Math.min(this.unstableFrom, entry.index);
  }

  /**
   * A follower takes the leader's entries that follow a matching (prevIndex, prevTerm): entries it
   * already has are kept, and the first conflicting one truncates the suffix from there.
   * Returns 'truncated' when a suffix was cut, 'ok' otherwise, or 'refused' when a conflict would
   * cut at or below `commit` or leave a gap (a leader broke Log Matching: keep committed entries).
   */
  appendFrom(entries: readonly Entry[], commit: number): 'ok' | 'truncated' | 'refused' {
    let i = 0;
    let truncated = false;
    for (; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.index <= this.snapIndex) continue;
      const t = this.term(e.index);
      if (t === undefined) break; // beyond our end
      if (t !== e.term) {
        if (e.index <= commit) return 'refused';
        this.truncateFrom(e.index);
        truncated = true;
        break;
      }
    }
    for (; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.index <= this.snapIndex) continue;
      if (e.index !== this.lastIndex() + 1) return 'refused';
      this.append(e);
    }
    return truncated ? 'truncated' : 'ok';
  }

  private truncateFrom(index: number): void {
    this.entries.length = index - this.snapIndex - 1;
    this.unstableFrom = Math.min(this.unstableFrom, index);
    this.stableLast = Math.min(this.stableLast, index - 1);
  }

  /** Drops the entries up to `snap.index` (a local compaction: they are in the snapshot). */
  compact(snap: Snapshot): void {
    const drop = snap.index - this.snapIndex;
    if (drop <= 0) return;
    this.entries.splice(0, drop);
    this.snapshot = snap;
    this.snapIndex = snap.index;
    this.snapTerm = snap.term;
  }

  /** Replaces the whole log with the leader's snapshot. */
  restore(snap: Snapshot): void {
    this.snapshot = snap;
    this.snapIndex = snap.index;
    this.snapTerm = snap.term;
    this.entries = [];
    this.unstableFrom = Number.POSITIVE_INFINITY;
    this.stableLast = snap.index;
  }

  /** Hands the changed suffix to a Ready. */
  takeUnstable(): Entry[] {
    if (this.unstableFrom > this.lastIndex()) {
      this.unstableFrom = Number.POSITIVE_INFINITY;
      return [];
    }
    const out = this.slice(this.unstableFrom, this.lastIndex());
    this.unstableFrom = Number.POSITIVE_INFINITY;
    return out;
  }

  /** The caller persisted `entries` (from a Ready): disk now ends at their last; memory equals it up to there unless changed since. */
  persisted(entries: readonly Entry[]): void {
    const last = entries.at(-1);
    if (last) this.stableLast = Math.min(last.index, this.unstableFrom - 1, this.lastIndex());
  }
}
