/**
 * Lists kept per member with memory bounded whatever the cluster does: at most `maxKeys` members
 * (the one touched longest ago is forgotten first) and `maxPerKey` entries each (oldest dropped).
 */
export class BoundedLists<T> {
  private readonly byKey = new Map<string, T[]>();
  private readonly maxKeys: number;
  private readonly maxPerKey: number;

  constructor(maxKeys: number, maxPerKey: number) {
    this.maxKeys = maxKeys;
    this.maxPerKey = maxPerKey;
  }

  /** The key's list, created if new, and marked as touched now. */
  listFor(key: string): T[] {
    let list = this.byKey.get(key);
    if (list === undefined) {
      if (this.byKey.size >= this.maxKeys) {
        // Map order is insertion order, refreshed below on every touch.
        const oldest = this.byKey.keys().next().value;
        if (oldest !== undefined) this.byKey.delete(oldest);
      }
      list = [];
    } else {
      this.byKey.delete(key);
    }
    this.byKey.set(key, list);
    return list;
  }

  push(key: string, entry: T): void {
    const list = this.listFor(key);
    list.push(entry);
    if (list.length > this.maxPerKey) list.splice(0, list.length - this.maxPerKey);
  }

  get(key: string): readonly T[] {
    return this.byKey.get(key) ?? [];
  }
}
