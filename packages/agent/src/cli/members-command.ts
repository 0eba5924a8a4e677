import type { MemberInfo } from '../membership/membership-service.ts';
import { AgentClient, CLIENT_FLAGS, CLIENT_HELP, table, withAgent } from './agent-client.ts';
import { CliUsageError } from './cli-usage-error.ts';
import { parseFlags } from './parse.ts';
import { jsonText, safe } from './terminal-text.ts';

const STATUSES = ['alive', 'suspect', 'dead', 'left'];

const HELP = `Usage: vigil members [options]

Lists the cluster's members as this agent sees them.

  --status S         only members in this status: ${STATUSES.join(', ')}
  --json             print the JSON of GET /v1/members
${CLIENT_HELP}`;

function statusText(m: MemberInfo): string {
  if (m.status !== 'suspect') return m.status;
  return `suspect (${m.confirmations ?? 1} observer${m.confirmations === 1 ? '' : 's'}${m.confirmedSuspect ? ', confirmed' : ''})`;
}

export async function runMembers(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    { ...CLIENT_FLAGS, json: { type: 'boolean' }, status: { type: 'string' } },
    true,
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}"`);
  if (values.status !== undefined && !STATUSES.includes(values.status)) {
    throw new CliUsageError(`--status: must be one of ${STATUSES.join(', ')}`);
  }
  const client = new AgentClient(values);
  return withAgent('members', async () => {
    const query = values.status ? `?status=${values.status}` : '';
    const members = await client.get<MemberInfo[]>(`/v1/members${query}`);
    if (values.json) {
      process.stdout.write(jsonText(members));
      return 0;
    }
    const rows = members.map((m) => [
      m.name,
      `${m.addr.includes(':') ? `[${m.addr}]` : m.addr}:${m.port}`,
      statusText(m),
      Object.entries(m.tags)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    ]);
    process.stdout.write(table([['NAME', 'ADDRESS', 'STATUS', 'TAGS'], ...rows]));
    return 0;
  });
}

const JOIN_HELP = `Usage: vigil join ADDRESS...

Tells the local agent to join the cluster through the members at ADDRESS (HOST[:PORT], port 7946).

${CLIENT_HELP}`;

export async function runJoin(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, CLIENT_FLAGS, true);
  if (values.help) {
    process.stdout.write(JOIN_HELP);
    return 0;
  }
  if (positionals.length === 0) throw new CliUsageError('give at least one ADDRESS to join');
  const client = new AgentClient(values);
  return withAgent('join', async () => {
    let joined = 0;
    for (const address of positionals) {
      const result = await client.put<{ joined: number }>(`/v1/agent/join/${encodeURIComponent(address)}`);
      joined += result.joined;
    }
    process.stdout.write(`Successfully joined cluster by contacting ${joined} node${joined === 1 ? '' : 's'}.\n`);
    return 0;
  });
}

const LEAVE_HELP = `Usage: vigil leave

Makes the local agent leave the cluster gracefully (peers see it as "left") and shut down.

${CLIENT_HELP}`;

export async function runLeave(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, CLIENT_FLAGS, true);
  if (values.help) {
    process.stdout.write(LEAVE_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}"`);
  const client = new AgentClient(values);
  return withAgent('leave', async () => {
    await client.put('/v1/agent/leave');
    process.stdout.write('Graceful leave complete.\n');
    return 0;
  });
}

const FORCE_LEAVE_HELP = `Usage: vigil force-leave NAME

Marks a failed member as left, so agents stop trying to reconnect to it.

${CLIENT_HELP}`;

export async function runForceLeave(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, CLIENT_FLAGS, true);
  if (values.help) {
    process.stdout.write(FORCE_LEAVE_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new CliUsageError('give exactly one member NAME');
  const client = new AgentClient(values);
  return withAgent('force-leave', async () => {
    await client.put(`/v1/agent/force-leave/${encodeURIComponent(positionals[0]!)}`);
    process.stdout.write(safe`${positionals[0]} is now marked as left.\n`);
    return 0;
  });
}
