import { readFile } from 'node:fs/promises';
import { compareStrings } from '../base/compare.ts';
import { definitionsIn } from '../services/config-services.ts';
import { AgentClient, AgentRequestError, CLIENT_FLAGS, CLIENT_HELP, table, withAgent } from './agent-client.ts';
import type { ApiCheck, ApiService } from './api-types.ts';
import { healthOf } from './api-types.ts';
import { CliUsageError } from './cli-usage-error.ts';
import { parseFlags } from './parse.ts';
import { jsonText, safe } from './terminal-text.ts';

const HELP = `Usage: vigil services <subcommand> [options]

  list [--json]        the services registered on the agent, with their health
  register FILE        register the service definitions in a JSON file: one definition,
                       {"service": {...}}, {"services": [...]} or a list (Consul's shape,
                       plus Priority and Zone)
  deregister ID        remove a service and its checks

Options:
  --json             (list) print the agent's JSON instead of a table
${CLIENT_HELP}`;

export async function runServices(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, { ...CLIENT_FLAGS, json: { type: 'boolean' } }, true);
  const [sub, ...rest] = positionals;
  if (values.help || sub === undefined || sub === 'help') {
    process.stdout.write(HELP);
    return sub === undefined && !values.help ? 2 : 0;
  }
  const client = new AgentClient(values);
  switch (sub) {
    case 'list':
      if (rest.length > 0) throw new CliUsageError(`list takes no arguments (got "${rest.join(' ')}")`);
      return withAgent('services', () => list(client, values.json ?? false));
    case 'register':
      if (rest.length !== 1) throw new CliUsageError('register takes one FILE');
      return withAgent('services', () => register(client, rest[0]!));
    case 'deregister':
      if (rest.length !== 1) throw new CliUsageError('deregister takes one service ID');
      return withAgent('services', async () => {
        await client.put(`/v1/agent/service/deregister/${encodeURIComponent(rest[0]!)}`);
        process.stdout.write(safe`Deregistered service: ${rest[0]}\n`);
        return 0;
      });
    default:
      throw new CliUsageError(`unknown subcommand "${sub}" (expected list, register or deregister)`);
  }
}

async function list(client: AgentClient, json: boolean): Promise<number> {
  const services = await client.get<Record<string, ApiService>>('/v1/agent/services');
  if (json) {
    process.stdout.write(jsonText(services));
    return 0;
  }
  const checks = await client.get<Record<string, ApiCheck>>('/v1/agent/checks');
  const rows = Object.values(services)
    .sort((a, b) => compareStrings(a.ID, b.ID))
    .map((s) => [
      s.ID,
      s.Service,
      `${s.Address || '(node)'}:${s.Port}`,
      String(s.Priority),
      s.Zone,
      String(s.Weights.Passing),
      healthOf(s.ID, checks),
      s.Tags.join(','),
    ]);
  if (rows.length === 0) {
    process.stdout.write('No services registered.\n');
    return 0;
  }
  process.stdout.write(table([['ID', 'NAME', 'ADDRESS', 'PRIORITY', 'ZONE', 'WEIGHT', 'HEALTH', 'TAGS'], ...rows]));
  return 0;
}

async function register(client: AgentClient, file: string): Promise<number> {
  let document: unknown;
  try {
    document = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new CliUsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const { items, path } = definitionsIn(document);
  if (items.length === 0) throw new CliUsageError(`${file} holds no service definitions`);
  let failed = 0;
  for (const [i, item] of items.entries()) {
    const fields = typeof item === 'object' && item !== null ? (item as Record<string, unknown>) : {};
    const name = String(fields.ID ?? fields.id ?? fields.Name ?? fields.name ?? '');
    try {
      await client.put('/v1/agent/service/register', item);
      process.stdout.write(safe`Registered service: ${name}\n`);
    } catch (err) {
      if (!(err instanceof AgentRequestError)) throw err;
      failed++;
      const where = path(i).replace(/\.$/, '');
      process.stderr.write(safe`vigil services: ${file}${where ? ` ${where}` : ''}: ${err.message}\n`);
    }
  }
  return failed === 0 ? 0 : 1;
}
