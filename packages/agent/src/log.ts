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
