import { Agent } from '../agent.ts';
import { ConfigError } from '../config/config-error.ts';
import { CONFIG_FLAGS, loadConfig } from '../config/load.ts';
import { DataDirLockedError } from '../data-dir/lock.ts';
import { createLogger, type Logger } from '../log.ts';
import { mergeConfiguredServices, readServicesDir } from '../services/config-services.ts';
import { parseFlags } from './parse.ts';

const HELP = `Usage: vigil agent [options]

  --node NAME            node name (default: the host name)
  --bind HOST:PORT       gossip address, UDP and TCP (default 0.0.0.0:7946)
  --advertise HOST:PORT  gossip address to tell peers (default: the bind address)
  --http HOST:PORT       local HTTP API (default 127.0.0.1:7948)
  --p2p HOST:PORT        libp2p catalog address (default 0.0.0.0:7947)
  --join HOST:PORT       a member to join; repeatable
  --data-dir DIR         node key, services and member snapshot (default ./vigil-data)
  --encrypt BASE64KEY    gossip key (Serf format, see \`vigil keygen\`); repeat for a keyring, first is primary
  --profile lan|wan|local  timing profile (default lan)
  --datacenter NAME      datacenter name reported to Consul-compatible clients (default dc1)
  --zone ZONE            this host's zone (default "default")
  --tag KEY=VALUE        a node tag; repeatable
  --config FILE          JSON config file; flags override it, and VIGIL_* variables sit between
  --services-dir DIR     a folder of JSON service definitions to register at start
  --enable-exec-checks   allow exec checks registered over the HTTP API (off: they are refused)
  --acl-token TOKEN      require this token (X-Vigil-Token or ?token=) on HTTP write endpoints
  --failback-hold-down D  wait this long before failing back to a recovered tier (default 30s)
  --panic-threshold F    healthy fraction below which a tier routes to all its instances (default 0.5)
  --log-level LEVEL      trace|debug|info|warn|error|fatal|silent (default info)
  --log-format json|pretty  default: pretty on a terminal, json otherwise

SIGTERM or SIGINT leaves the cluster gracefully and exits 0; a second signal forces the exit.
SIGHUP re-reads the service definitions (config file \`services\`, services_dir); other settings
take effect at the next start.
`;

/** How long a graceful stop may take before the agent exits anyway. */
const STOP_DEADLINE_MS = 10_000;

export async function runAgent(args: string[]): Promise<number> {
  const options = Object.fromEntries(CONFIG_FLAGS.map(({ flag, multiple, type }) => [flag, { type, multiple }]));
  const { values } = parseFlags(args, {
    ...options,
    config: { type: 'string' },
    'log-format': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const logFormat = values['log-format'];
  if (logFormat !== undefined && logFormat !== 'json' && logFormat !== 'pretty') {
    process.stderr.write(`vigil agent: --log-format: must be one of json, pretty\n`);
    return 2;
  }

  const sources = { flags: values, env: process.env, configFile: values.config as string | undefined };
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(sources);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`vigil agent: invalid configuration:\n${err.problems.map((p) => `  ${p}\n`).join('')}`);
      return 2;
    }
    throw err;
  }

  const log = createLogger(config.logLevel, logFormat);
  let agent: Agent;
  try {
    agent = await Agent.start(config, log);
  } catch (err) {
    const message = err instanceof DataDirLockedError ? err.message : `cannot start: ${(err as Error).message}`;
    log.fatal({ err }, message);
    process.stderr.write(`vigil agent: ${message}\n`);
    return 1;
  }

  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      signalled = true;
      log.info({ signal }, 'signal received: leaving gracefully');
      const deadline = setTimeout(() => {
        log.error('graceful stop took too long: exiting');
        process.exit(1);
      }, STOP_DEADLINE_MS);
      deadline.unref();
      agent.stop().then(
        () => {
          clearTimeout(deadline);
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          process.off('SIGHUP', onReload);
          resolve(0);
        },
        (err: unknown) => {
          log.error({ err }, 'graceful stop failed');
          resolve(1);
        },
      );
    };
    // systemd's ExecReload (and Consul's habit): services from configuration change without a restart.
    const onReload = () => void reloadServices(agent, sources, log);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    process.on('SIGHUP', onReload);
    void agent.shutdownRequest.then(() => onSignal('SIGTERM'));
  });
}

/** Applies the configured services as they are now; a bad definition is logged and changes nothing. */
async function reloadServices(agent: Agent, sources: Parameters<typeof loadConfig>[0], log: Logger): Promise<void> {
  try {
    const config = loadConfig(sources);
    const fromDir = config.servicesDir === undefined ? [] : readServicesDir(config.servicesDir);
    const services = mergeConfiguredServices(config.services, fromDir);
    await agent.services.applyConfig(services);
    log.info({ services: services.length }, 'SIGHUP: service definitions reloaded');
  } catch (err) {
    const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
    log.error({ problems }, 'SIGHUP: service definitions not reloaded');
  }
}
