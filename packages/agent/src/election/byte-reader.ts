// Bounds-checked little-endian reads over one received message, shared by the Raft and KV codecs.
// Each codec decides what a failure throws (its own error type and reasons), so the subclasses add
// only their field types and checks; a length is checked against the buffer before any slice.

export type ByteReadFailure = 'truncated' | 'trailing-bytes';

export abstract class ByteReader {
  protected pos = 0;
  protected readonly view: DataView;
  protected readonly buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  /** The error thrown when the bytes run out early or some are left over. */
  protected abstract failure(reason: ByteReadFailure): Error;
  protected need(n: number): void {
    if (this.pos + n > this.buf.length) throw this.failure('truncated');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  /** u32 length, then that many bytes, copied: the result outlives the message. */
  bytes(): Uint8Array {
    const n = this.u32();
    this.need(n);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  end(): void {
    if (this.pos !== this.buf.length) throw this.failure('trailing-bytes');
  }
}
