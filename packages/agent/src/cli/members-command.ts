import { META_ZONE } from '@vigil/protocol';
import type { TcpPortState } from '../membership/confirmation.ts';
import type { MemberInfo } from '../membership/membership-service.ts';
import type { Verdict } from '../membership/verdict-log.ts';
import { AgentClient, CLIENT_FLAGS, CLIENT_HELP, table, withAgent } from './agent-client.ts';
import { CliUsageError } from './cli-usage-error.ts';
import { parseFlags } from './parse.ts';
import { jsonText, safe } from './terminal-text.ts';

const STATUSES = ['alive', 'suspect', 'dead', 'left'];

const HELP = `Usage: vigil members [options]

Lists the cluster's members as this agent sees them.

  --status S         only members in this status: ${STATUSES.join(', ')}
  --detailed         every tag, Vigil's internal vigil:* ones included, and the incarnation
  --explain NAME     why NAME was suspected: who accused it, when, over which paths, who
                     confirmed, the accuser's health score, how each suspicion ended
  --json             print the JSON of GET /v1/members (or /v1/members/NAME with --explain)
${CLIENT_HELP}`;

function statusText(m: MemberInfo): string {
  if (m.status !== 'suspect') return m.status;
  return `suspect (${m.confirmations ?? 1} observer${m.confirmations === 1 ? '' : 's'}${m.confirmedSuspect ? ', confirmed' : ''})`;
}

export async function runMembers(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    {
      ...CLIENT_FLAGS,
      json: { type: 'boolean' },
      status: { type: 'string' },
      detailed: { type: 'boolean' },
      explain: { type: 'string' },
    },
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
  const { explain } = values;
  if (explain !== undefined) {
    return withAgent('members', async () => {
      const answer = await client.get<ExplainAnswer>(`/v1/members/${encodeURIComponent(explain)}`);
      process.stdout.write(values.json ? `${JSON.stringify(answer, null, 2)}\n` : explainText(answer));
      return 0;
    });
  }
  return withAgent('members', async () => {
    const query = values.status ? `?status=${values.status}` : '';
    const members = await client.get<MemberInfo[]>(`/v1/members${query}`);
    if (values.json) {
      process.stdout.write(jsonText(members));
      return 0;
    }
    // Vigil's own tags (vigil:peer, vigil:p2p, vigil:zone) are plumbing: the zone gets a column,
    // the rest only shows with --detailed, as Serf keeps its internal state out of `members`.
    const tags = (m: MemberInfo) =>
      Object.entries(m.tags)
        .filter(([k]) => values.detailed || !k.startsWith('vigil:'))
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
    const rows = members.map((m) => [
      m.name,
      `${m.addr.includes(':') ? `[${m.addr}]` : m.addr}:${m.port}`,
      statusText(m),
      m.tags[META_ZONE] ?? '',
      ...(values.detailed ? [String(m.incarnation)] : []),
      tags(m),
    ]);
    const header = ['NAME', 'ADDRESS', 'STATUS', 'ZONE', ...(values.detailed ? ['INCARNATION'] : []), 'TAGS'];
    process.stdout.write(table([header, ...rows]));
    return 0;
  });
}

interface ExplainAnswer {
  readonly member: MemberInfo | { readonly name: string; readonly status: 'unknown' };
  readonly history: readonly Verdict[];
  readonly tcpPort?: TcpPortState;
}

function when(ms: number): string {
  return new Date(ms).toISOString();
}

/** The verdict history as sentences, newest suspicion first. */
export function explainText({ member, history, tcpPort }: ExplainAnswer): string {
  const lines = [
    'incarnation' in member
      ? `${member.name}: ${statusText(member)}, incarnation ${member.incarnation}`
      : `${member.name}: no longer a member`,
  ];
  if (tcpPort === 'rejects' && 'incarnation' in member)
    lines.push(
      `Its TCP port ${member.addr}:${member.port} refused this agent while it answered over UDP: a firewall? Open TCP ${member.port} as well as UDP; until then a refused connect there counts for nothing.`,
    );
  if (history.length === 0) lines.push('No suspicion of it since this agent started.');
  for (const v of history) {
    const how =
      v.cause === 'probe'
        ? 'this agent accused it after its own probe failed'
        : v.cause === 'merge'
          ? `learnt from a push/pull state exchange (${v.accuser === undefined ? 'accuser not known' : `then accused by ${v.accuser}`})`
          : `accused by ${v.accuser}`;
    lines.push('', `Suspected at ${when(v.suspectedAt)}, incarnation ${v.incarnation}: ${how}`);
    if (v.accuserHealth !== undefined) lines.push(`  accuser's health score: ${v.accuserHealth} (0 is healthy)`);
    for (const p of v.paths ?? []) lines.push(`  failed path: ${pathText(p)}`);
    if (v.confirmations.length === 0) lines.push('  no independent confirmation');
    for (const c of v.confirmations) {
      const paths = c.paths ? ` after ${c.paths.map(pathText).join(', ')}` : '';
      lines.push(`  confirmed by ${c.by} at ${when(c.at)}${paths}`);
    }
    lines.push(
      v.end
        ? `  ended ${when(v.end.at)}: ${v.end.how === 'refuted' ? `refuted (alive at incarnation ${v.end.incarnation})` : v.end.how}`
        : '  still open',
    );
  }
  return `${lines.join('\n')}\n`;
}

function pathText(p: { path: string; by: string; relays?: number; nacks?: number; refused?: boolean }): string {
  if (p.path === 'indirect') {
    const nacks = p.nacks === undefined ? '' : `, ${p.nacks} nack${p.nacks === 1 ? '' : 's'}`;
    return `indirect ping from ${p.by} through ${p.relays ?? 0} relay${p.relays === 1 ? '' : 's'}${nacks}`;
  }
  if (p.path === 'tcp')
    return `TCP ping from ${p.by}${p.refused ? ' (connect refused: nothing listens on its port)' : ''}`;
  return `direct ping from ${p.by}`;
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
