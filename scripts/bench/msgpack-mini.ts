// A minimal msgpack codec for the benchmark's Serf RPC client: enough to write Serf's request
// headers and bodies (maps of short strings, integers, booleans and string arrays) and to read any
// response. Strings are written in the old-spec raw forms (fixstr, raw16, raw32) that Serf's
// go-msgpack codec reads. Decoding is incremental: `tryDecode` returns undefined while the value is
// still incomplete, so it can sit on a TCP stream.

export type Msg = null | boolean | number | string | Uint8Array | Msg[] | { [key: string]: Msg };

export function encode(value: Msg): Buffer {
  const parts: Buffer[] = [];
  write(value, parts);
  return Buffer.concat(parts);
}

function write(v: Msg, out: Buffer[]): void {
  if (v === null) out.push(Buffer.from([0xc0]));
  else if (typeof v === 'boolean') out.push(Buffer.from([v ? 0xc3 : 0xc2]));
  else if (typeof v === 'number') {
    if (!Number.isInteger(v)) {
      const b = Buffer.alloc(9);
      b[0] = 0xcb;
      b.writeDoubleBE(v, 1);
      out.push(b);
    } else if (v >= 0 && v < 128) out.push(Buffer.from([v]));
    else if (v < 0 && v >= -32) out.push(Buffer.from([v & 0xff]));
    else if (v >= 0 && v <= 0xffffffff) {
      const b = Buffer.alloc(5);
      b[0] = 0xce;
      b.writeUInt32BE(v, 1);
      out.push(b);
    } else {
      const b = Buffer.alloc(9);
      b[0] = 0xd3;
      b.writeBigInt64BE(BigInt(v), 1);
      out.push(b);
    }
  } else if (typeof v === 'string') {
    const s = Buffer.from(v, 'utf8');
    if (s.length < 32) out.push(Buffer.from([0xa0 | s.length]));
    else if (s.length <= 0xffff) out.push(Buffer.from([0xda, s.length >> 8, s.length & 0xff]));
    else {
      const h = Buffer.alloc(5);
      h[0] = 0xdb;
      h.writeUInt32BE(s.length, 1);
      out.push(h);
    }
    out.push(s);
  } else if (v instanceof Uint8Array) {
    const h = Buffer.alloc(5);
    h[0] = 0xc6;
    h.writeUInt32BE(v.length, 1);
    out.push(h, Buffer.from(v));
  } else if (Array.isArray(v)) {
    if (v.length < 16) out.push(Buffer.from([0x90 | v.length]));
    else out.push(Buffer.from([0xdc, v.length >> 8, v.length & 0xff]));
    for (const x of v) write(x, out);
  } else {
    const entries = Object.entries(v);
    if (entries.length < 16) out.push(Buffer.from([0x80 | entries.length]));
    else out.push(Buffer.from([0xde, entries.length >> 8, entries.length & 0xff]));
    for (const [k, x] of entries) {
      write(k, out);
      write(x, out);
    }
  }
}

class Incomplete extends Error {}

/** Decodes one value at `offset`; undefined if the buffer ends before the value does. */
export function tryDecode(buf: Buffer, offset = 0): { value: Msg; next: number } | undefined {
  try {
    const r = new Reader(buf, offset);
    const value = r.value();
    return { value, next: r.pos };
  } catch (err) {
    if (err instanceof Incomplete) return undefined;
    throw err;
  }
}

class Reader {
  private readonly buf: Buffer;
  pos: number;

  constructor(buf: Buffer, pos: number) {
    this.buf = buf;
    this.pos = pos;
  }

  private need(n: number): number {
    if (this.pos + n > this.buf.length) throw new Incomplete();
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private u8(): number {
    return this.buf[this.need(1)]!;
  }
  private u16(): number {
    return this.buf.readUInt16BE(this.need(2));
  }
  private u32(): number {
    return this.buf.readUInt32BE(this.need(4));
  }

  private bytes(n: number): Buffer {
    const at = this.need(n);
    return this.buf.subarray(at, at + n);
  }

  private str(n: number): string {
    return this.bytes(n).toString('utf8');
  }

  private arr(n: number): Msg[] {
    const out: Msg[] = [];
    for (let i = 0; i < n; i++) out.push(this.value());
    return out;
  }

  private map(n: number): { [key: string]: Msg } {
    const out: { [key: string]: Msg } = {};
    for (let i = 0; i < n; i++) {
      const k = this.value();
      out[typeof k === 'string' ? k : String(k)] = this.value();
    }
    return out;
  }

  value(): Msg {
    const t = this.u8();
    if (t < 0x80) return t;
    if (t >= 0xe0) return t - 0x100;
    if ((t & 0xf0) === 0x80) return this.map(t & 0x0f);
    if ((t & 0xf0) === 0x90) return this.arr(t & 0x0f);
    if ((t & 0xe0) === 0xa0) return this.str(t & 0x1f);
    switch (t) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return new Uint8Array(this.bytes(this.u8()));
      case 0xc5:
        return new Uint8Array(this.bytes(this.u16()));
      case 0xc6:
        return new Uint8Array(this.bytes(this.u32()));
      case 0xc7:
      case 0xc8:
      case 0xc9: {
        const n = t === 0xc7 ? this.u8() : t === 0xc8 ? this.u16() : this.u32();
        this.u8(); // ext type
        return new Uint8Array(this.bytes(n));
      }
      case 0xca:
        return this.buf.readFloatBE(this.need(4));
      case 0xcb:
        return this.buf.readDoubleBE(this.need(8));
      case 0xcc:
        return this.u8();
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf:
        return Number(this.buf.readBigUInt64BE(this.need(8)));
      case 0xd0:
        return this.buf.readInt8(this.need(1));
      case 0xd1:
        return this.buf.readInt16BE(this.need(2));
      case 0xd2:
        return this.buf.readInt32BE(this.need(4));
      case 0xd3:
        return Number(this.buf.readBigInt64BE(this.need(8)));
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8: {
        this.u8();
        return new Uint8Array(this.bytes(2 ** (t - 0xd4)));
      }
      case 0xd9:
        return this.str(this.u8());
      case 0xda:
        return this.str(this.u16());
      case 0xdb:
        return this.str(this.u32());
      case 0xdc:
        return this.arr(this.u16());
      case 0xdd:
        return this.arr(this.u32());
      case 0xde:
        return this.map(this.u16());
      case 0xdf:
        return this.map(this.u32());
      default:
        throw new Error(`msgpack: unknown type byte 0x${t.toString(16)}`);
    }
  }
}
