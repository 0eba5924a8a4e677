import { VERSION } from '../version.ts';
import { CliUsageError } from './cli-usage-error.ts';
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
  elections  show election groups: leader, fencing token, voters (see \`vigil elections --help\`)
  lock       run a command only while this agent holds a lock (see \`vigil lock --help\`)
  version    print the version
  help       print this help

Environment: every agent flag can be set as VIGIL_<FLAG> (for example VIGIL_DATA_DIR).
`;

type Command = (args: string[]) => Promise<number>;

// Each command's module is loaded when it runs: `vigil members` need not load libp2p and fastify,
// which the agent alone uses (about 0.7 s of CPU and 100 MiB at every CLI call otherwise).
const COMMANDS: Record<string, Command> = {
  agent: async (args) => (await import('./agent-command.ts')).runAgent(args),
  keygen: async () => (await import('./keygen-command.ts')).runKeygen(),
  keys: async (args) => (await import('./keys-command.ts')).runKeys(args),
  routes: async (args) => (await import('./routes-command.ts')).runRoutes(args),
  resolve: async (args) => (await import('./routes-command.ts')).runResolve(args),
  members: async (args) => (await import('./members-command.ts')).runMembers(args),
  join: async (args) => (await import('./members-command.ts')).runJoin(args),
  leave: async (args) => (await import('./members-command.ts')).runLeave(args),
  'force-leave': async (args) => (await import('./members-command.ts')).runForceLeave(args),
  services: async (args) => (await import('./services-command.ts')).runServices(args),
  checks: async (args) => (await import('./checks-command.ts')).runChecks(args),
  maint: async (args) => (await import('./maint-command.ts')).runMaint(args),
  monitor: async (args) => (await import('./monitor-command.ts')).runMonitor(args),
  elections: async (args) => (await import('./elections-command.ts')).runElections(args),
  lock: async (args) => (await import('./lock-command.ts')).runLock(args),
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
