import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export type LogFormat = 'json' | 'pretty';

/**
 * One JSON object per line for machines; when stdout is a terminal, the same events rendered
 * for people (pino-pretty in-process, so no worker thread outlives the agent).
 */
export function createLogger(level: string, format: LogFormat = process.stdout.isTTY ? 'pretty' : 'json'): Logger {
  const options = { level, base: { pid: process.pid } };
  if (format === 'pretty') {
    return pino(options, pretty({ colorize: true, sync: true, ignore: 'pid,hostname' }));
  }
  return pino(options, pino.destination({ dest: 1, sync: true }));
}
