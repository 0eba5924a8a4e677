import { CONTROL_CHARACTER } from '@vigil/protocol';

/**
 * Text from the network (member names and tags from gossip, service tags and meta, check output,
 * agent error messages) reaches the operator's terminal through the CLI. Control characters in it
 * would be obeyed: ESC sequences recolour, move the cursor, retitle the window or forge rows; a
 * newline or carriage return forges a line; bidirectional overrides reorder what is shown. Every
 * value the CLI prints goes through this module, which shows such characters as visible escapes.
 */

/** C0 and DEL, C1 (8-bit CSI and friends), line/paragraph separators, bidirectional controls. */
const UNSAFE = new RegExp(CONTROL_CHARACTER.source, 'g');

/** What JSON.stringify leaves raw of those: all but C0, which it escapes (and uses raw for layout). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

const escapeChar = (c: string): string => {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
};

/** `text` with every character a terminal would act on shown as an escape (`\x1b`, `\n`, `\u202e`). */
export function escapeTerminal(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/**
 * A template tag: the literal parts are the CLI's own and pass as written (newlines included);
 * every interpolated value is escaped. `process.stdout.write(safe\`Registered ${name}\n\`)`.
 */
export function safe(strings: TemplateStringsArray, ...values: readonly unknown[]): string {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += escapeTerminal(String(values[i])) + strings[i + 1]!;
  return out;
}

/**
 * Pretty JSON that is safe on a terminal. JSON.stringify escapes C0 characters but writes C1 and
 * bidirectional controls raw; those can only occur inside strings, where `\uXXXX` is valid JSON.
 */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2).replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`;
}
