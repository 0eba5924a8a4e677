interface Timer {
  readonly at: number;
  readonly id: number;
  readonly fire: (now: number) => void;
}

/**
 * The engine's clock-free timers: a binary min-heap of deadlines. The caller asks `next()` when to
 * wake and calls `runDue(now)`; cancellation is lazy (a cancelled id is skipped when it surfaces).
 */
export class TimerQueue {
  private heap: Timer[] = [];
  private nextId = 1;
  private readonly cancelled = new Set<number>();

  set(at: number, fire: (now: number) => void): number {
    const timer = { at, id: this.nextId++, fire };
    this.heap.push(timer);
    this.up(this.heap.length - 1);
    return timer.id;
  }

  cancel(id: number | undefined): void {
    if (id !== undefined) this.cancelled.add(id);
  }

  next(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.at;
  }

  /** Fires every timer due at `now`, in deadline order, including ones that firing sets. */
  runDue(now: number): void {
    for (;;) {
      this.dropCancelled();
      const top = this.heap[0];
      if (!top || top.at > now) return;
      this.pop();
      top.fire(now);
    }
  }

  private dropCancelled(): void {
    while (this.heap[0] && this.cancelled.has(this.heap[0].id)) {
      this.cancelled.delete(this.heap[0].id);
      this.pop();
    }
  }

  private pop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
  }

  private less(a: number, b: number): boolean {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    return x.at < y.at || (x.at === y.at && x.id < y.id);
  }

  private swap(a: number, b: number): void {
    const t = this.heap[a]!;
    this.heap[a] = this.heap[b]!;
    this.heap[b] = t;
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < this.heap.length && this.less(l, min)) min = l;
      if (r < this.heap.length && this.less(r, min)) min = r;
      if (min === i) return;
      this.swap(i, min);
      i = min;
    }
  }
}
