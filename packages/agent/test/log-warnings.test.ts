import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { logProcessWarnings } from '../src/log.ts';

describe('process warnings', () => {
  let undo: (() => void) | undefined;
  afterEach(() => undo?.());

  it('go through the JSON log instead of stderr, and the undo restores Node default', async () => {
    const before = process.listeners('warning');
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    undo = logProcessWarnings(pino({ level: 'info' }, sink));
    // Node's own stderr printer is gone: ours is the only listener.
    expect(process.listeners('warning')).toHaveLength(1);
    expect(before.every((l) => !process.listeners('warning').includes(l))).toBe(true);

    // A timer computed from a deadline a stall already passed: Node's TimeoutNegativeWarning.
    const timer = setTimeout(() => {}, -5);
    clearTimeout(timer);
    await new Promise((r) => setImmediate(r));
    const entry = JSON.parse(lines.find((l) => l.includes('TimeoutNegativeWarning'))!);
    expect(entry.level).toBe(40);
    expect(entry.warning.name).toBe('TimeoutNegativeWarning');

    undo();
    undo = undefined;
    expect(process.listeners('warning')).toEqual(before);
  });
});
