import { AgentClient, CLIENT_FLAGS, CLIENT_HELP, table, withAgent } from './agent-client.ts';
import { CliUsageError } from './cli-usage-error.ts';
import { parseFlags } from './parse.ts';

const ELECTIONS_HELP = `Usage: vigil elections [GROUP] [options]

Shows the election groups (services with "Policy": "leader", and locks): the leader and its
instance, the fencing token and term, this agent's role, the lease left, and the voters.

  --json             print the JSON of GET /v1/elections[/GROUP]
  --step-down        GROUP only: hand the leadership over gracefully (through any agent)
${CLIENT_HELP}`;

interface GroupView {
  group: string;
  kind: string;
  voter: boolean;
  leader?: string;
  instance?: string;
  token: number;
  term: number;
  role?: string;
  acting?: string;
  leaseRemainingMs: number;
  lastChange?: string;
  candidates: string[];
  voters: { node: string; role: string; candidate: boolean }[];
}

function render(g: GroupView): string {
  const leader = g.leader ? `${g.leader}${g.instance ? `/${g.instance}` : ''}` : '(none)';
  const me = g.voter
    ? `  here=${g.role}${g.acting && g.acting !== 'standby' ? `/${g.acting}` : ''}`
    : '  here=not a voter';
  const lease = g.leaseRemainingMs > 0 ? `  lease=${g.leaseRemainingMs}ms` : '';
  const head = `${g.group} (${g.kind})  leader=${leader}  token=${g.token}  term=${g.term}${me}${lease}\n`;
  const rows = g.voters.map((v) => [`  ${v.node}`, v.role, v.candidate ? 'candidate' : 'witness']);
  return head + (rows.length > 0 ? table(rows) : `  candidates: ${g.candidates.join(', ') || '(none)'}\n`);
}

export async function runElections(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    { ...CLIENT_FLAGS, json: { type: 'boolean' }, 'step-down': { type: 'boolean' } },
    true,
  );
  if (values.help) {
    process.stdout.write(ELECTIONS_HELP);
    return 0;
  }
  if (positionals.length > 1) throw new CliUsageError(`unexpected argument "${positionals[1]}"`);
  const group = positionals[0];
  if (values['step-down'] && group === undefined) throw new CliUsageError('--step-down needs a GROUP');
  const client = new AgentClient(values);
  return withAgent('elections', async () => {
    if (values['step-down']) {
      await client.put(`/v1/elections/${encodeURIComponent(group!)}/step-down`);
      process.stdout.write(`Stepped down from ${group}.\n`);
      return 0;
    }
    const groups = group
      ? [await client.get<GroupView>(`/v1/elections/${encodeURIComponent(group)}`)]
      : await client.get<GroupView[]>('/v1/elections');
    if (values.json) {
      process.stdout.write(`${JSON.stringify(group ? groups[0] : groups, null, 2)}\n`);
      return 0;
    }
    if (groups.length === 0) process.stdout.write('No election groups.\n');
    process.stdout.write(groups.map(render).join('\n'));
    return 0;
  });
}
