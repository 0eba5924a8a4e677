import type { Demotion, DemotionObserver, RoutesResponse, RouteTable } from '@vigil/protocol';
import { AgentClient, CLIENT_FLAGS, CLIENT_HELP, table, withAgent } from './agent-client.ts';
import { CliUsageError } from './cli-usage-error.ts';
import { parseFlags } from './parse.ts';
import { escapeTerminal, jsonText, safe } from './terminal-text.ts';

const ROUTES_HELP = `Usage: vigil routes [SERVICE] [options]

Shows the routing table of every service, or of one: endpoints in failover order with their
state (active, standby, demoted), traffic share, tier and zone, and the redundancy (N+k).
Each demoted endpoint gets one line saying why: its node is a confirmed suspect, or an outlier
ejection with the observer hosts that saw it failing, what they saw, and until when. A
failback being held down is shown with the moment it ends (the same on every agent).

  --json             print the JSON of GET /v1/routes[/SERVICE]
${CLIENT_HELP}`;

type ExplainedTable = RouteTable & {
  readonly demotions?: readonly Demotion[];
  readonly held?: readonly (Demotion & { readonly heldBy: string })[];
};

const clock = (ms: number | undefined) => (ms === undefined ? '?' : new Date(ms).toISOString().slice(11, 19));

function saw(o: DemotionObserver): string {
  const parts = [
    o.http5xx && `${o.http5xx}x5xx`,
    o.refused && `${o.refused} refused`,
    o.timeout && `${o.timeout} timeouts`,
    o.other && `${o.other} other`,
    `${o.ok} ok`,
  ].filter(Boolean);
  return `${escapeTerminal(o.node)} ${parts.join(' ')} since ${clock(o.since)}`;
}

/** One line per demotion (and per held ejection), in short. */
export function renderDemotions(t: ExplainedTable): string {
  const lines: string[] = [];
  for (const d of [...(t.demotions ?? []), ...(t.held ?? [])]) {
    const who = `${escapeTerminal(d.node)}/${escapeTerminal(d.id)}`;
    if (d.reason === 'confirmed-suspect') {
      lines.push(`  ! ${who}: node is a confirmed suspect`);
      continue;
    }
    const held = 'heldBy' in d ? ` NOT ejected (${d.heldBy})` : ` ejected until ${clock(d.until)}`;
    const damped = d.damped ? ', damped (flapping)' : '';
    if (!d.observers?.length) {
      lines.push(`  ! ${who}: held out until ${clock(d.until)}: its health flaps (penalty ${d.penalty ?? '?'})`);
      continue;
    }
    lines.push(
      `  ! ${who}:${held}, #${d.ejections ?? 1}${damped}; seen failing by ${(d.observers ?? []).map(saw).join('; ')}`,
    );
  }
  return lines.map((l) => `${l}\n`).join('');
}

/** `now` only turns a hold-down's end into seconds left. */
export function renderTable(t: ExplainedTable, now: number): string {
  const head = `${safe`${t.service}  policy=${t.policy}  redundancy=${t.redundancy}`}${t.panic ? '  PANIC' : ''}\n`;
  const rows = t.endpoints.map((e) => [
    `  ${e.node}/${e.id}`,
    `${e.address}:${e.port}`,
    e.state,
    `${(e.share * 100).toFixed(1)}%`,
    `tier ${e.tier}`,
    e.zone,
    e.health,
  ]);
  const held = (t.tiers ?? [])
    .filter((tier) => tier.failbackAt !== null)
    .map((tier) => {
      const left = Math.max(0, Math.ceil((tier.failbackAt! - now) / 1000));
      return `  failback to tier ${tier.tier} held down until ${new Date(tier.failbackAt!).toISOString()} (${left}s)\n`;
    });
  return head + (rows.length > 0 ? table(rows) : '  (no endpoints)\n') + held.join('') + renderDemotions(t);
}

export async function runRoutes(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, { ...CLIENT_FLAGS, json: { type: 'boolean' } }, true);
  if (values.help) {
    process.stdout.write(ROUTES_HELP);
    return 0;
  }
  if (positionals.length > 1) throw new CliUsageError(`unexpected argument "${positionals[1]}"`);
  const client = new AgentClient(values);
  return withAgent('routes', async () => {
    const service = positionals[0];
    const one = (name: string) => client.get<ExplainedTable>(`/v1/routes/${encodeURIComponent(name)}`);
    let tables: ExplainedTable[] = service
      ? [await one(service)]
      : [...(await client.get<RoutesResponse>('/v1/routes')).tables];
    // Only the per-service route explains demotions; ask it for the tables that have any.
    if (!service && !values.json) {
      tables = await Promise.all(
        tables.map((t) => (t.endpoints.some((e) => e.state === 'demoted') ? one(t.service) : t)),
      );
    }
    if (values.json) {
      process.stdout.write(jsonText(service ? tables[0] : tables));
      return 0;
    }
    if (tables.length === 0) process.stdout.write('No services in the catalog.\n');
    process.stdout.write(tables.map((t) => renderTable(t, Date.now())).join('\n'));
    return 0;
  });
}

const RESOLVE_HELP = `Usage: vigil resolve SERVICE [options]

Picks one endpoint of SERVICE as an application would: weighted by share among the active
endpoints, else a standby, else a demoted one. Exit code 1 when none is usable.

  --json             print the endpoint as JSON instead of ADDRESS:PORT
${CLIENT_HELP}`;

export async function runResolve(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, { ...CLIENT_FLAGS, json: { type: 'boolean' } }, true);
  if (values.help) {
    process.stdout.write(RESOLVE_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new CliUsageError('give exactly one SERVICE');
  const client = new AgentClient(values);
  return withAgent('resolve', async () => {
    const t = await client.get<RouteTable>(`/v1/routes/${encodeURIComponent(positionals[0]!)}`);
    const active = t.endpoints.filter((e) => e.state === 'active' && e.share > 0);
    let pick = active[0];
    let r = Math.random();
    for (const e of active) {
      r -= e.share;
      if (r <= 0) {
        pick = e;
        break;
      }
    }
    pick ??= t.endpoints.find((e) => e.state === 'standby') ?? t.endpoints.find((e) => e.state === 'demoted');
    if (!pick) {
      process.stderr.write(safe`vigil resolve: service "${t.service}" has no healthy endpoint\n`);
      return 1;
    }
    process.stdout.write(values.json ? jsonText(pick) : safe`${pick.address}:${pick.port}\n`);
    return 0;
  });
}
