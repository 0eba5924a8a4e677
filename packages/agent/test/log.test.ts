import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.ts';

function capture() {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += chunk;
      done();
    },
  });
  return { stream, text: () => text };
}

const ESC = '\u001b';

describe('pretty logs on a terminal', () => {
  it('print control characters from logged values and messages as text, keeping line feeds', () => {
    const out = capture();
    const log = createLogger('info', 'pretty', undefined, out.stream as never);
    log.info(
      { output: `ok${ESC}[31mRED${ESC}]0;title\u0007\rX`, peer: 'a\u009b2Jb\u202ec' },
      `check\nresult ${ESC}[2J\r`,
    );
    const text = out.text();
    for (const raw of [`${ESC}[31mRED`, `${ESC}[2J`, '\u0007', '\r', '\u009b', '\u202e']) {
      expect(text).not.toContain(raw);
    }
    expect(text).toContain('\\u001b[31mRED');
    expect(text).toContain('\\u009b2Jb');
    expect(text).toContain('check\nresult \\u001b[2J\\r');
  });
});
