import { describe, expect, it } from 'vitest';
import { table } from '../src/cli/agent-client.ts';
import { escapeTerminal, jsonText, safe } from '../src/cli/terminal-text.ts';

describe('terminal text', () => {
  it('shows every character a terminal acts on as an escape, and leaves the rest', () => {
    expect(escapeTerminal('\u001b[31mred\u001b[0m')).toBe('\\x1b[31mred\\x1b[0m');
    expect(escapeTerminal('a\nb\rc\td\u0007\u007f\u009b')).toBe('a\\nb\\rc\\td\\x07\\x7f\\x9b');
    expect(escapeTerminal('abc\u202etxt.exe\u2028')).toBe('abc\\u202etxt.exe\\u2028');
    expect(escapeTerminal('zone-é 東京 ✓')).toBe('zone-é 東京 ✓');
  });

  it('escapes values, not the template, and lays out escaped cells', () => {
    expect(safe`Registered ${'a\nb'}\n`).toBe('Registered a\\nb\n');
    expect(table([['NAME'], ['\u001b[2J']])).toBe('NAME\n\\x1b[2J\n');
  });

  it('writes JSON that parses to the same value and holds no raw control character', () => {
    const value = { tag: '\u001b[31m\u009b\u202e', n: 1 };
    const text = jsonText(value);
    for (const c of ['\u001b', '\u009b', '\u202e']) expect(text).not.toContain(c);
    expect(JSON.parse(text)).toEqual(value);
  });
});
