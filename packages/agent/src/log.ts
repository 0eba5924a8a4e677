import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';

export type { Logger };

export type LogFormat = 'json' | 'pretty';

/**
 * One JSON object per line for machines; when stdout is a terminal, the same events rendered
 * for people (pino-pretty in-process, so no worker thread outlives the agent).
 */
export function createLogger(level: string, format: LogFormat = process.stdout.isTTY ? 'pretty' : 'json'): Logger {
  const options = { level, base: { pid: process.pid } };
  if (format === 'pretty') {
    // Loaded only for a terminal: an agent under systemd logs JSON and never loads it (2 MiB less).
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
    return pino(options, pretty({ colorize: true, sync: true, ignore: 'pid,hostname' }));
  }
  return pino(options, pino.destination({ dest: 1, sync: true }));
}
