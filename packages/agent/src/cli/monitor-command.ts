import { AgentClient, CLIENT_FLAGS, CLIENT_HELP, withAgent } from './agent-client.ts';
import { CliUsageError } from './cli-usage-error.ts';
import { parseFlags } from './parse.ts';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];

const HELP = `Usage: vigil monitor [options]

Streams the local agent's log until interrupted (Ctrl-C), as \`consul monitor\`. Only what the
agent logs at its own --log-level can be shown.

  --log-level LEVEL  the lowest level shown: ${LEVELS.join(', ')} (default info)
  --json             the agent's JSON lines as they are
${CLIENT_HELP}`;

export async function runMonitor(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    { ...CLIENT_FLAGS, 'log-level': { type: 'string' }, json: { type: 'boolean' } },
    true,
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}"`);
  const level = values['log-level'] ?? 'info';
  if (!LEVELS.includes(level)) throw new CliUsageError(`--log-level: must be one of ${LEVELS.join(', ')}`);
  const client = new AgentClient(values);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await withAgent('monitor', async () => {
      const body = await client.stream(
        `/v1/agent/monitor?loglevel=${level}${values.json ? '&logjson' : ''}`,
        stop.signal,
      );
      try {
        for await (const chunk of body) process.stdout.write(chunk);
      } catch (err) {
        if (!stop.signal.aborted) throw err;
        return 0;
      }
      if (stop.signal.aborted) return 0;
      process.stderr.write('vigil monitor: the agent closed the stream\n');
      return 1;
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
