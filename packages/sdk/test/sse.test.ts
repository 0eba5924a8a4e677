import { describe, expect, it } from 'vitest';
import { type SseEvent, SseParser } from '../src/sse.ts';

function parse(chunks: string[]): SseEvent[] {
  const out: SseEvent[] = [];
  const p = new SseParser((e) => out.push(e));
  for (const c of chunks) p.feed(c);
  return out;
}

describe('SSE parser', () => {
  it('reads id, event and data fields, and skips comments', () => {
    const events = parse([': keepalive\n\nid: 7\nevent: route\ndata: {"a":1}\n\n']);
    expect(events).toEqual([{ id: '7', event: 'route', data: '{"a":1}' }]);
  });

  it('joins multi-line data and defaults the type to message', () => {
    expect(parse(['data: one\ndata: two\n\n'])).toEqual([{ id: undefined, event: 'message', data: 'one\ntwo' }]);
  });

  it('handles CRLF and CR line ends split across chunks, and fields split mid-line', () => {
    const text = 'id: 1\r\nevent: route\r\ndata: x\r\n\r\nid: 2\revent: member\rdata: y\r\r';
    const whole = parse([text]);
    for (let cut = 1; cut < text.length; cut++) {
      expect(parse([text.slice(0, cut), text.slice(cut)])).toEqual(whole);
    }
    expect(whole).toEqual([
      { id: '1', event: 'route', data: 'x' },
      { id: '2', event: 'member', data: 'y' },
    ]);
  });

  it('does not dispatch an event without data, and ignores unknown fields', () => {
    expect(parse(['event: route\nretry: 10\n\nfoo: bar\ndata\n\n'])).toEqual([
      { id: undefined, event: 'message', data: '' },
    ]);
  });

  it('keeps a value after the first colon intact, with one leading space removed', () => {
    expect(parse(['data:  a: b\n\n'])).toEqual([{ id: undefined, event: 'message', data: ' a: b' }]);
  });

  it('refuses a line longer than its buffer: the stream counts as broken (the caller reconnects)', () => {
    const out: SseEvent[] = [];
    const p = new SseParser((e) => out.push(e), 64);
    p.feed('data: ok\n\n');
    expect(() => p.feed(`data: ${'x'.repeat(100)}`)).toThrow(/event stream: .*max buffer size/);
    expect(() => p.feed('\n\ndata: more\n\n')).toThrow(/event stream/);
    expect(out).toEqual([{ id: undefined, event: 'message', data: 'ok' }]);
  });
});
