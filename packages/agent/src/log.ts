import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';
import type { LogTap } from './log-tap.ts';

export type { Logger };

export type LogFormat = 'json' | 'pretty';

/**
 * One JSON object per line for machines; when stdout is a terminal, the same events rendered
 * for people (pino-pretty in-process, so no worker thread outlives the agent). `destination`
 * replaces stdout (tests).
 */
export function createLogger(
  level: string,
  format: LogFormat = process.stdout.isTTY ? 'pretty' : 'json',
  tap?: LogTap,
  destination?: DestinationStream,
): Logger {
  const options = { level, base: { pid: process.pid } };
  // pino-pretty is loaded only for a terminal: an agent under systemd logs JSON and never loads it.
  const pretty = () => createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  const out =
    format === 'pretty'
      ? pretty()({ colorize: true, sync: true, ignore: 'pid,hostname', ...(destination ? { destination } : {}) })
      : (destination ?? pino.destination({ dest: 1, sync: true }));
  // Pretty output re-renders escaped text, so escape it once more (see keepEscaped).
  const withHooks = format === 'pretty' ? { ...options, hooks: { streamWrite: keepEscaped } } : options;
  if (tap === undefined) return pino(withHooks, out);
  // `vigil monitor` reads the same lines; levels pass through as the logger's own level allows.
  return pino(
    withHooks,
    pino.multistream([
      { level: 'trace', stream: out },
      { level: 'trace', stream: tap },
    ]),
  );
}

/** A JSON escape to keep as text: a backslash pair (skipped), C0 as \u00XX, DEL, \r, \b, \f. */
const JSON_CONTROL_ESCAPE = /\\(\\|u00[01][0-9a-fA-F]|u007[fF]|r|b|f)/g;
/** What JSON.stringify writes raw that a terminal acts on: C1, line separators, bidi controls. */
const RAW_CONTROL = /[\u0080-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Logged values carry text from the network (check output, peers' messages). In JSON that text is
 * escaped, but pino-pretty parses it back and writes the message, C1 controls and bidirectional
 * overrides to the terminal raw. Escaping the escapes once more makes pretty print them as text
 * (`\u001b`); line feeds and tabs stay, so stack traces keep their lines.
 */
function keepEscaped(json: string): string {
  return json
    .replace(JSON_CONTROL_ESCAPE, (match, what: string) => (what === '\\' ? match : `\\${match}`))
    .replace(RAW_CONTROL, (c) => `\\\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Node prints process warnings (a negative timer delay, a deprecation) to stderr as plain text,
 * outside the JSON log. Routes them through the logger instead; returns the undo.
 */
export function logProcessWarnings(log: Logger): () => void {
  const defaults = process.listeners('warning');
  process.removeAllListeners('warning');
  const onWarning = (warning: Error & { code?: string }) =>
    log.warn({ warning: { name: warning.name, code: warning.code, stack: warning.stack } }, warning.message);
  process.on('warning', onWarning);
  return () => {
    process.off('warning', onWarning);
    for (const l of defaults) process.on('warning', l);
  };
}
