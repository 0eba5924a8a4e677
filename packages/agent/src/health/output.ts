/** Check output kept to a bounded size, as Consul's `output_max_size` does. */

/** Keeps the first `max` bytes of a text (an HTTP body is cut at the end, like Consul's LimitReader). */
export function truncateHead(text: string, max: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= max) return text;
  return `${bytes.subarray(0, max).toString('utf8')}\n... (truncated; ${bytes.length} bytes in all)`;
}

/**
 * Collects a process's output and keeps only the last `max` bytes (the end of a script's output is
 * where its verdict is; Consul keeps a circular buffer for the same reason).
 */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private kept = 0;
  private total = 0;
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  push(chunk: Buffer): void {
    this.total += chunk.length;
    this.chunks.push(chunk);
    this.kept += chunk.length;
    while (this.kept - (this.chunks[0]?.length ?? 0) >= this.max && this.chunks.length > 1) {
      this.kept -= this.chunks.shift()!.length;
    }
  }

  toString(): string {
    const all = Buffer.concat(this.chunks);
    if (this.total <= this.max) return all.toString('utf8');
    const tail = all.subarray(all.length - this.max).toString('utf8');
    return `Captured ${this.max} of ${this.total} bytes\n...\n${tail}`;
  }
}
