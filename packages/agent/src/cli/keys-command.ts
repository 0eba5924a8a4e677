import { KEY_FINGERPRINT_PREFIX, keyFingerprint } from '@vigil/protocol';
import { parseGossipKey } from '../config/gossip-key.ts';
import { AgentClient, CLIENT_FLAGS, CLIENT_HELP, table, withAgent } from './agent-client.ts';
import { CliUsageError } from './cli-usage-error.ts';
import { parseFlags } from './parse.ts';
import { jsonText } from './terminal-text.ts';

const HELP = `Usage: vigil keys (--list | --install KEY | --use KEY | --remove KEY | --fingerprint KEY) [options]

Manages the gossip encryption keys of every member, Serf agents included (as \`serf keys\`). A
rotation: --install the new key, --use it, then --remove the old one. Each agent keeps its keyring
in its data directory (local.keyring), which then wins over --encrypt at start.

An agent without an ACL token lists keys as fingerprints (sha256:...), never as keys: any local
process or web page could read them. --fingerprint tells which key a fingerprint stands for.

  --list             show each installed key and how many members hold it
  --install KEY      add KEY (base64, see \`vigil keygen\`) to every member's keyring
  --use KEY          make KEY, already installed, the key every member encrypts with
  --remove KEY       remove KEY from every member's keyring (not the key in use)
  --fingerprint KEY  print KEY's fingerprint (no agent needed)
  --local-only       with --list: only this agent's keys, without asking the cluster
  --json             print the JSON of /v1/operator/keyring
${CLIENT_HELP}`;

interface KeyringEntry {
  Keys: Record<string, number>;
  PrimaryKeys: Record<string, number>;
  NumNodes: number;
  NumResponses: number;
  NumErrors: number;
  Messages: Record<string, string>;
}

const VERBS = { install: 'POST', use: 'PUT', remove: 'DELETE' } as const;
const DONE = { install: 'installed', use: 'is now the primary key', remove: 'removed' } as const;

export async function runKeys(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    ...CLIENT_FLAGS,
    list: { type: 'boolean' },
    install: { type: 'string' },
    use: { type: 'string' },
    remove: { type: 'string' },
    fingerprint: { type: 'string' },
    'local-only': { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}"`);
  const chosen = (['list', 'install', 'use', 'remove', 'fingerprint'] as const).filter(
    (op) => values[op] !== undefined,
  );
  if (chosen.length !== 1) {
    throw new CliUsageError('give exactly one of --list, --install, --use, --remove, --fingerprint');
  }
  const op = chosen[0]!;
  if (op === 'fingerprint') {
    const key = values.fingerprint!;
    if (!parseGossipKey(key)) throw new CliUsageError('--fingerprint: not a base64 key of 16, 24 or 32 bytes');
    process.stdout.write(`${keyFingerprint(key)}\n`);
    return 0;
  }
  if (values['local-only'] && op !== 'list') throw new CliUsageError('--local-only goes with --list only');
  const client = new AgentClient(values);
  return withAgent('keys', async () => {
    if (op === 'list') {
      const [entry] = await client.get<KeyringEntry[]>(
        `/v1/operator/keyring${values['local-only'] ? '?local-only=true' : ''}`,
      );
      if (values.json) {
        process.stdout.write(jsonText([entry]));
        return 0;
      }
      const rows = Object.entries(entry!.Keys).map(([key, n]) => [
        key,
        `${n}/${entry!.NumNodes}`,
        entry!.PrimaryKeys[key] ? `primary on ${entry!.PrimaryKeys[key]}` : '',
      ]);
      process.stdout.write(table([['KEY', 'MEMBERS', 'PRIMARY'], ...rows]));
      if (rows.some(([key]) => key!.startsWith(KEY_FINGERPRINT_PREFIX))) {
        process.stdout.write(
          '\nKeys are shown as fingerprints: the agent has no ACL token (see `vigil keys --fingerprint KEY`).\n',
        );
      }
      return 0;
    }
    const key = values[op]!;
    const result = await client.send<KeyringEntry[]>(VERBS[op], '/v1/operator/keyring', { Key: key });
    if (values.json) process.stdout.write(jsonText(result));
    else process.stdout.write(`Key ${DONE[op]} on all ${result[0]!.NumNodes} members.\n`);
    return 0;
  });
}
