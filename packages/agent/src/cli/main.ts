import { VERSION } from '../version.ts';
import { runAgent } from './agent-command.ts';
import { runChecks } from './checks-command.ts';
import { CliUsageError } from './cli-usage-error.ts';
import { runKeygen } from './keygen-command.ts';
import { runKeys } from './keys-command.ts';
import { runMaint } from './maint-command.ts';
import { runForceLeave, runJoin, runLeave, runMembers } from './members-command.ts';
import { runMonitor } from './monitor-command.ts';
import { runResolve, runRoutes } from './routes-command.ts';
import { runServices } from './services-command.ts';
import { safe } from './terminal-text.ts';

const HELP = `vigil ${VERSION}: a decentralized failover mesh agent

Usage: vigil <command> [options]

Commands:
  agent      run the agent (see \`vigil agent --help\`)
  members    list the cluster's members (see \`vigil members --help\`)
  join       make the local agent join a cluster through an address
  leave      make the local agent leave the cluster gracefully and shut down
  force-leave  mark a failed member as left
  routes     show the routing tables (see \`vigil routes --help\`)
  resolve    pick one endpoint of a service, as an application would
  keygen     print a new gossip encryption key
  keys       list, install, use or remove gossip keys on every member (see \`vigil keys --help\`)
  services   list, register or deregister this agent's services (see \`vigil services --help\`)
  checks     list this agent's health checks and their state
  maint      put the node or a service into maintenance (drain), or take it out
  monitor    stream the local agent's log
  version    print the version
  help       print this help

Environment: every agent flag can be set as VIGIL_<FLAG> (for example VIGIL_DATA_DIR).
`;

type Command = (args: string[]) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  agent: runAgent,
  keygen: runKeygen,
  keys: runKeys,
  routes: runRoutes,
  resolve: runResolve,
  members: runMembers,
  join: runJoin,
  leave: runLeave,
  'force-leave': runForceLeave,
  services: runServices,
  checks: runChecks,
  maint: runMaint,
  monitor: runMonitor,
  version: async () => {
    process.stdout.write(`vigil ${VERSION}\n`);
    return 0;
  },
  help: async () => {
    process.stdout.write(HELP);
    return 0;
  },
};

/** Runs one CLI command and returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') return COMMANDS.help!([]);
  if (name === '--version' || name === '-v') return COMMANDS.version!([]);
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`${safe`vigil: unknown command "${name}"`}\n\n${HELP}`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (err) {
    if (err instanceof CliUsageError) {
      process.stderr.write(safe`vigil ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
