import type { Message } from '@vigil/protocol';

interface Queued {
  readonly key: string | undefined;
  readonly message: Message;
  readonly size: number;
  transmits: number;
  /** Superseded by newer news about the same key; skipped and dropped lazily. */
  dead: boolean;
}

/** Stop looking for a fitting broadcast after this many candidates: keeps each send O(1). */
const MAX_SCAN = 256;

/**
 * memberlist's TransmitLimitedQueue: each broadcast rides on outgoing packets until it has been
 * sent retransmitLimit times. Fewest transmits go first so fresh news spreads fastest; among equals
 * the newest goes first (alive refutations must beat the accusations they answer). Items live in
 * one bucket per transmit count, so taking and queueing stay cheap with thousands queued.
 */
export class BroadcastQueue {
  private readonly buckets: Queued[][] = [];
  private readonly byKey = new Map<string, Queued>();
  /** Node name -> the `node\0observer` keys queued about it, so superseding them is O(their count). */
  private readonly subKeys = new Map<string, Set<string>>();
  private live = 0;
  /** Called after each queue(): the engine resumes its gossip ticks, parked while nothing was queued. */
  onQueued: (() => void) | undefined;

  /**
   * Keys are a node name, or `node\0observer` for a suspicion confirmation. News under a plain
   * node key supersedes everything queued about that node, confirmations included.
   */
  queue(message: Message, size: number, key?: string): void {
    if (key !== undefined) {
      this.kill(this.byKey.get(key));
      const sep = key.indexOf('\0');
      if (sep < 0) {
        const subs = this.subKeys.get(key);
        if (subs) for (const k of [...subs]) this.kill(this.byKey.get(k));
      } else {
        const node = key.slice(0, sep);
        let subs = this.subKeys.get(node);
        if (!subs) {
          subs = new Set();
          this.subKeys.set(node, subs);
        }
        subs.add(key);
      }
    }
    const item: Queued = { key, message, size, transmits: 0, dead: false };
    if (key !== undefined) this.byKey.set(key, item);
    this.bucket(0).push(item);
    this.live++;
    this.onQueued?.();
  }

  /** Takes broadcasts whose sizes (each plus `overhead`) fit in `limit` bytes. */
  take(overhead: number, limit: number, transmitLimit: number): Message[] {
    if (this.live === 0) return [];
    const out: Message[] = [];
    const taken: Queued[] = [];
    let room = limit;
    let scanned = 0;
    for (let t = 0; t < this.buckets.length && scanned < MAX_SCAN; t++) {
      const bucket = this.buckets[t];
      if (!bucket) continue;
      // Newest at the end of each bucket.
      for (let i = bucket.length - 1; i >= 0 && scanned < MAX_SCAN; i--) {
        const item = bucket[i]!;
        if (item.dead || item.transmits >= transmitLimit) continue;
        scanned++;
        if (overhead + item.size > room) continue;
        room -= overhead + item.size;
        out.push(item.message);
        taken.push(item);
      }
    }
    // Oldest first, so each moved group keeps its newest item last (next in line) in its new bucket.
    for (let i = taken.length - 1; i >= 0; i--) {
      const item = taken[i]!;
      const from = this.buckets[item.transmits]!;
      from.splice(from.lastIndexOf(item), 1);
      item.transmits++;
      if (item.transmits >= transmitLimit) this.kill(item);
      else this.bucket(item.transmits).push(item);
    }
    this.compact(transmitLimit);
    return out;
  }

  length(): number {
    return this.live;
  }

  private bucket(transmits: number): Queued[] {
    let b = this.buckets[transmits];
    if (!b) {
      b = [];
      this.buckets[transmits] = b;
    }
    return b;
  }

  private kill(item: Queued | undefined): void {
    if (!item || item.dead) return;
    item.dead = true;
    this.live--;
    if (item.key !== undefined && this.byKey.get(item.key) === item) {
      this.byKey.delete(item.key);
      const sep = item.key.indexOf('\0');
      if (sep >= 0) {
        const node = item.key.slice(0, sep);
        const subs = this.subKeys.get(node);
        subs?.delete(item.key);
        if (subs?.size === 0) this.subKeys.delete(node);
      }
    }
  }

  /** Drops dead items and items past a (possibly lowered) transmit limit once they pile up. */
  private compact(transmitLimit: number): void {
    let total = 0;
    for (const b of this.buckets) total += b?.length ?? 0;
    if (total < 2 * this.live + 64) return;
    for (let t = 0; t < this.buckets.length; t++) {
      const bucket = this.buckets[t];
      if (!bucket) continue;
      if (t >= transmitLimit) for (const item of bucket) this.kill(item);
      this.buckets[t] = bucket.filter((i) => !i.dead);
    }
  }
}
