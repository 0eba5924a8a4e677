import { AgentClient, CLIENT_FLAGS, CLIENT_HELP, withAgent } from './agent-client.ts';
import type { ApiCheck } from './api-types.ts';
import { CliUsageError } from './cli-usage-error.ts';
import { parseFlags } from './parse.ts';
import { escapeTerminal, safe } from './terminal-text.ts';

const HELP = `Usage: vigil maint [--enable | --disable] [--service ID] [--reason TEXT]

Puts the node (or one service) into maintenance, which takes it out of routing: the way to drain a
host before a deploy. Without --enable or --disable, shows what is in maintenance now.

  --enable           turn maintenance on
  --disable          turn maintenance off
  --service ID       only this service instead of the whole node
  --reason TEXT      why (shown to operators; stored with the flag)
${CLIENT_HELP}`;

export async function runMaint(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    {
      ...CLIENT_FLAGS,
      enable: { type: 'boolean' },
      disable: { type: 'boolean' },
      service: { type: 'string' },
      reason: { type: 'string' },
    },
    true,
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}"`);
  if (values.enable && values.disable) throw new CliUsageError('give --enable or --disable, not both');
  if (values.reason !== undefined && !values.enable) throw new CliUsageError('--reason goes with --enable');
  const client = new AgentClient(values);

  if (!values.enable && !values.disable) {
    return withAgent('maint', async () => {
      const checks = await client.get<Record<string, ApiCheck>>('/v1/agent/checks');
      const maint = Object.values(checks).filter((c) => c.Type === 'maintenance');
      if (maint.length === 0) process.stdout.write('Nothing is in maintenance.\n');
      for (const c of maint) {
        const what = c.ServiceID ? safe`Service: ${c.ServiceID}` : 'Node';
        process.stdout.write(safe`${what}\n  Reason: ${c.Notes}\n`);
      }
      return 0;
    });
  }

  const enable = values.enable === true;
  const query = new URLSearchParams({ enable: String(enable) });
  if (values.reason !== undefined) query.set('reason', values.reason);
  const path =
    values.service === undefined
      ? `/v1/agent/maintenance?${query}`
      : `/v1/agent/service/maintenance/${encodeURIComponent(values.service)}?${query}`;
  return withAgent('maint', async () => {
    await client.put(path);
    const what = values.service === undefined ? 'node' : `service "${values.service}"`;
    process.stdout.write(`${enable ? 'Maintenance enabled' : 'Maintenance disabled'} for ${escapeTerminal(what)}\n`);
    return 0;
  });
}
