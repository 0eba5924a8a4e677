import { describe, expect, it } from 'vitest';
import { DecodeError } from '../src/memberlist/decode-error.ts';
import { bytesToString, decodeMsgpack, GoMsgpackWriter } from '../src/memberlist/msgpack-go.ts';
import { hex, unhex } from './helpers.ts';

const enc = (f: (w: GoMsgpackWriter) => void) => {
  const w = new GoMsgpackWriter(1);
  f(w);
  return hex(w.finish());
};

describe('GoMsgpackWriter writes what go-msgpack 0.5 (ugorji, WriteExt=false) writes', () => {
  it('unsigned integers take the smallest form (EncodeUint: fixint <= 127, then cc/cd/ce/cf)', () => {
    expect(enc((w) => w.uint(0))).toBe('00');
    expect(enc((w) => w.uint(127))).toBe('7f');
    expect(enc((w) => w.uint(128))).toBe('cc80');
    expect(enc((w) => w.uint(255))).toBe('ccff');
    expect(enc((w) => w.uint(256))).toBe('cd0100');
    expect(enc((w) => w.uint(65535))).toBe('cdffff');
    expect(enc((w) => w.uint(65536))).toBe('ce00010000');
    expect(enc((w) => w.uint(0xffffffff))).toBe('ceffffffff');
    expect(enc((w) => w.uint(2 ** 32))).toBe('cf0000000100000000');
    expect(enc((w) => w.uint(0xffff_ffff_ffff_ffffn))).toBe('cfffffffffffffffff');
  });

  it('signed integers: non-negative as unsigned (0.5.x EncodeInt), negative as fixint/d0/d1/d2/d3', () => {
    expect(enc((w) => w.int(300))).toBe('cd012c'); // go-msgpack v2 would write d1012c; both decode in Go
    expect(enc((w) => w.int(-1))).toBe('ff');
    expect(enc((w) => w.int(-32))).toBe('e0');
    expect(enc((w) => w.int(-33))).toBe('d0df');
    expect(enc((w) => w.int(-129))).toBe('d1ff7f');
    expect(enc((w) => w.int(-40000))).toBe('d2ffff63c0');
    expect(enc((w) => w.int(-(2 ** 40)))).toBe('d3ffffff0000000000');
  });

  it('strings and []byte are old-spec raw: fixstr < 32, then da (16-bit), never d9 or bin', () => {
    expect(enc((w) => w.str(''))).toBe('a0');
    expect(enc((w) => w.str('Node'))).toBe('a44e6f6465');
    expect(enc((w) => w.raw(new Uint8Array(31)))).toBe(`bf${'00'.repeat(31)}`);
    // 32 bytes: a new-spec encoder would use d9 20; go-msgpack without WriteExt uses da 0020.
    expect(enc((w) => w.raw(new Uint8Array(32)))).toBe(`da0020${'00'.repeat(32)}`);
    expect(enc((w) => w.raw(new Uint8Array(255))).slice(0, 6)).toBe('da00ff');
    expect(enc((w) => w.raw(new Uint8Array(70000))).slice(0, 10)).toBe('db00011170');
  });

  it('strings are their UTF-8 bytes on both the short ASCII path and the encoder path', () => {
    const utf8 = (s: string) => hex(new TextEncoder().encode(s));
    for (const s of ['a'.repeat(31), 'b'.repeat(32), 'nœud-1', 'é'.repeat(16), `${'x'.repeat(30)}é`]) {
      const n = new TextEncoder().encode(s).length;
      const header = n < 32 ? (0xa0 | n).toString(16) : `da${n.toString(16).padStart(4, '0')}`;
      expect(enc((w) => w.str(s))).toBe(header + utf8(s));
      expect(bytesToString(new TextEncoder().encode(s))).toBe(s);
    }
    // Go's string(bytes) keeps invalid UTF-8; we show it as U+FFFD on either path.
    expect(bytesToString(unhex('68ff'))).toBe('h\ufffd');
    expect(bytesToString(unhex(`${'61'.repeat(30)}ff`))).toBe(`${'a'.repeat(30)}\ufffd`);
  });

  it('a nil slice is nil (c0), an empty one is a zero-length raw', () => {
    expect(enc((w) => w.rawOrNil(new Uint8Array(0)))).toBe('c0');
    expect(enc((w) => w.raw(new Uint8Array(0)))).toBe('a0');
  });

  it('containers: fixmap/fixarray < 16, then de/dc with a 16-bit count', () => {
    expect(enc((w) => w.mapHeader(15))).toBe('8f');
    expect(enc((w) => w.mapHeader(16))).toBe('de0010');
    expect(enc((w) => w.arrayHeader(512))).toBe('dc0200'); // Serf's 512-slot event ring
    expect(enc((w) => w.arrayHeader(70000))).toBe('dd00011170');
  });

  it('structs are maps with fields sorted by name, as go-msgpack 0.5 writes them', () => {
    // memberlist declares ping{SeqNo, Node, ...}; Serf 0.9.4 sends "Node" first (see the captures).
    expect(enc((w) => w.struct({ SeqNo: (w) => w.uint(1), Node: (w) => w.str('a'), Skip: undefined }))).toBe(
      '82a44e6f6465a161a55365714e6f01',
    );
  });

  it('bools', () => {
    expect(enc((w) => w.bool(true).bool(false))).toBe('c3c2');
  });
});

describe('decodeMsgpack', () => {
  it('reads old and new spec strings and bin alike, as bytes', () => {
    for (const v of [
      'a3616263',
      'd903616263',
      'da0003616263',
      'db00000003616263',
      'c403616263',
      'c50003616263',
      'c600000003616263',
    ]) {
      expect(hex(decodeMsgpack(unhex(v)).value as Uint8Array)).toBe('616263');
    }
  });

  it('never UTF-8 decodes byte values: invalid UTF-8 survives untouched', () => {
    const { value } = decodeMsgpack(unhex('a3 ff fe 80'));
    expect(hex(value as Uint8Array)).toBe('fffe80');
  });

  it('reads every integer width, signed and unsigned, and floats', () => {
    const cases: [string, number | bigint][] = [
      ['7f', 127],
      ['e0', -32],
      ['cc80', 128],
      ['cd0100', 256],
      ['ce00010000', 65536],
      ['cf0000000100000000', 2 ** 32],
      ['cfffffffffffffffff', 0xffff_ffff_ffff_ffffn],
      ['d0df', -33],
      ['d1ff7f', -129],
      ['d2ffff63c0', -40000],
      ['d3ffffff0000000000', -(2 ** 40)],
      ['d1012c', 300],
      ['cb3ff8000000000000', 1.5],
      ['ca3fc00000', 1.5],
    ];
    for (const [bytes, want] of cases) expect(decodeMsgpack(unhex(bytes)).value).toBe(want);
  });

  it('decodes maps keyed by field name; later duplicates win', () => {
    const { value, end } = decodeMsgpack(unhex('82 a161 01 a161 02 ff'));
    expect(value).toEqual(new Map([['a', 2]]));
    expect(end).toBe(7);
  });

  it('reports a value cut short as truncated, even when the count claims more than is there', () => {
    for (const bytes of ['', 'a5616263', 'cd01', 'dc0003 01', 'de ffff', '82a161']) {
      const err = (() => {
        try {
          decodeMsgpack(unhex(bytes));
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(DecodeError);
      expect((err as DecodeError).code).toBe('truncated');
    }
  });

  it('bounds nesting depth and container size', () => {
    const deep = unhex(`${'91'.repeat(40)}00`);
    expect(() => decodeMsgpack(deep)).toThrow(expect.objectContaining({ code: 'too-large' }));
    const wide = new Uint8Array(5 + 20);
    wide.set(unhex('dd 00100000'));
    expect(() => decodeMsgpack(wide, 0, { maxDepth: 8, maxContainerLen: 1000 })).toThrow(
      expect.objectContaining({ code: 'too-large' }),
    );
  });

  it('refuses ext types and the never-used c1 with a DecodeError', () => {
    for (const bytes of ['c1', 'd40100', 'c7010100']) {
      expect(() => decodeMsgpack(unhex(bytes))).toThrow(DecodeError);
    }
  });

  it('refuses map keys that are not strings or integers', () => {
    expect(() => decodeMsgpack(unhex('81 c3 01'))).toThrow(expect.objectContaining({ code: 'malformed' }));
  });
});
