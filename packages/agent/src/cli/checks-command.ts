import { compareStrings } from '../base/compare.ts';
import { AgentClient, CLIENT_FLAGS, CLIENT_HELP, table, withAgent } from './agent-client.ts';
import type { ApiCheck } from './api-types.ts';
import { CliUsageError } from './cli-usage-error.ts';
import { parseFlags } from './parse.ts';
import { jsonText } from './terminal-text.ts';

const HELP = `Usage: vigil checks [options]

Lists the agent's health checks with their state and latest output.

  --service ID       only the checks of this service (and the node's checks)
  --json             print the agent's JSON instead of a table
${CLIENT_HELP}`;

/** The first line of a check's output, cut to fit a table row. */
function summary(output: string, max = 60): string {
  const line = output.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

export async function runChecks(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    { ...CLIENT_FLAGS, json: { type: 'boolean' }, service: { type: 'string' } },
    true,
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}"`);
  const client = new AgentClient(values);
  return withAgent('checks', async () => {
    const all = await client.get<Record<string, ApiCheck>>('/v1/agent/checks');
    const checks = Object.values(all)
      .filter((c) => values.service === undefined || c.ServiceID === values.service || c.ServiceID === '')
      .sort((a, b) => compareStrings(a.CheckID, b.CheckID));
    if (values.json) {
      process.stdout.write(jsonText(Object.fromEntries(checks.map((c) => [c.CheckID, c]))));
      return 0;
    }
    if (checks.length === 0) {
      process.stdout.write('No checks registered.\n');
      return 0;
    }
    const rows = checks.map((c) => [
      c.CheckID,
      c.ServiceID || '(node)',
      c.Type,
      c.Status,
      summary(c.Type === 'maintenance' ? c.Notes : c.Output),
    ]);
    process.stdout.write(table([['CHECK', 'SERVICE', 'TYPE', 'STATUS', 'OUTPUT'], ...rows]));
    return 0;
  });
}
