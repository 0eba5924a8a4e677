import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogTap } from './log-tap.ts';

export type { Logger };

export type LogFormat = 'json' | 'pretty';

/**
 * One JSON object per line for machines; when stdout is a terminal, the same events rendered
 * for people (pino-pretty in-process, so no worker thread outlives the agent).
 */
export function createLogger(
  level: string,
  format: LogFormat = process.stdout.isTTY ? 'pretty' : 'json',
  tap?: LogTap,
): Logger {
  const options = { level, base: { pid: process.pid } };
  const out =
    format === 'pretty'
      ? pretty({ colorize: true, sync: true, ignore: 'pid,hostname' })
      : pino.destination({ dest: 1, sync: true });
  if (tap === undefined) return pino(options, out);
  // `vigil monitor` reads the same lines; levels pass through as the logger's own level allows.
  return pino(
    options,
    pino.multistream([
      { level: 'trace', stream: out },
      { level: 'trace', stream: tap },
    ]),
  );
}
