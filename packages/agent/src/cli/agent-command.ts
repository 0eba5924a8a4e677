import nodeModule from 'node:module';
import { Agent } from '../agent.ts';
import { ConfigError } from '../config/config-error.ts';
import { CONFIG_FLAGS, type ConfigSources, loadConfig } from '../config/load.ts';
import { DataDirError } from '../data-dir/ensure-dir.ts';
import { DataDirLockedError } from '../data-dir/lock.ts';
import { createLogger, type Logger, logProcessWarnings } from '../log.ts';
import { LogTap } from '../log-tap.ts';
import { DefinitionError } from '../services/registration.ts';
import { launchedByNpm, watchLauncher } from './launcher-watch.ts';
import { parseFlags } from './parse.ts';
import { safe } from './terminal-text.ts';

const HELP = `Usage: vigil agent [options]

  --node NAME            node name (default: the host name)
  --bind HOST:PORT       gossip address, UDP and TCP (default 0.0.0.0:7946)
  --advertise HOST:PORT  gossip address to tell peers (default: the bind address)
  --http HOST:PORT       local HTTP API (default 127.0.0.1:7948)
  --http-allowed-host NAME  a host name the HTTP API answers to, beside IP addresses and
                         localhost (other Host headers get 403: DNS rebinding); repeatable
  --p2p HOST:PORT        libp2p catalog address (default: the --bind host, port 7947)
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
  --drain-timeout D       on a graceful leave, after draining this node's instances, wait this
                          long for requests in flight before leaving (default 2s; 0: do not wait)
  --outlier-window D      an observer's failure window for outlier detection (default 10s)
  --outlier-base-ejection D  first mesh-wide ejection's length, > the window (default 30s)
  --panic-threshold F    healthy fraction below which a tier routes to all its instances (default 0.5)
  --dns HOST:PORT|off    DNS interface, UDP and TCP (default 127.0.0.1:8600)
  --domain NAME          DNS zone served (default vigil.)
  --dns-ttl D            TTL of DNS answers (default 0s: no caching)
  --log-level LEVEL      trace|debug|info|warn|error|fatal|silent (default info)
  --log-format json|pretty  default: pretty on a terminal, json otherwise

SIGTERM or SIGINT leaves the cluster gracefully and exits 0; a second signal forces the exit.
SIGHUP re-reads the configuration (flags, VIGIL_* and the config file) and applies the log level,
the configured services and checks (services, services_dir) and the tags, as \`consul reload\`;
a configuration with a problem is refused, naming it, and the agent keeps running as it was.
`;

/** SIGHUP: re-read every source as at start, then apply what can change while running. */
async function reload(agent: Agent, flags: ConfigSources['flags'], log: Logger): Promise<void> {
  try {
    const next = loadConfig({ flags, env: process.env, configFile: flags.config as string | undefined });
    const { applied, needRestart } = await agent.reload(next);
    log.info({ applied }, 'configuration reloaded');
    if (needRestart.length > 0) {
      log.warn({ fields: needRestart }, `changes to ${needRestart.join(', ')} take effect at the next start`);
    }
  } catch (err) {
    const problems =
      err instanceof ConfigError || err instanceof DefinitionError ? err.problems : [(err as Error).message];
    log.error({ problems }, `reload refused, the configuration in effect is unchanged: ${problems.join('; ')}`);
  }
}

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

  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig({ flags: values, env: process.env, configFile: values.config as string | undefined });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`vigil agent: invalid configuration:\n${err.problems.map((p) => safe`  ${p}\n`).join('')}`);
      return 2;
    }
    throw err;
  }

  const logTap = new LogTap();
  const log = createLogger(config.logLevel, logFormat, logTap);
  logProcessWarnings(log);
  let agent: Agent;
  try {
    agent = await Agent.start(config, log, logTap);
  } catch (err) {
    const message =
      err instanceof DataDirLockedError
        ? err.message
        : err instanceof DataDirError
          ? `cannot start: --data-dir: ${err.message}`
          : `cannot start: ${(err as Error).message}`;
    log.fatal({ err }, message);
    process.stderr.write(safe`vigil agent: ${message}\n`);
    return 1;
  }
  // Node writes its compile cache (enabled by the bin) only at a clean exit, so an agent that is
  // killed or crashes never leaves one and every start compiles from scratch: measured 1.8 s of
  // start-up CPU and +27 MiB idle RSS without the cache, 1.25 s with it. Everything the agent loads
  // at start is loaded by now; writing it here makes the next start warm whatever ends this one.
  setImmediate(() => nodeModule.flushCompileCache?.());

  return new Promise<number>((resolve) => {
    let signalled = false;
    // Reloads run one after another: two quick SIGHUPs must not interleave their changes.
    let reloading = Promise.resolve();
    const onHangup = () => {
      if (!signalled) reloading = reloading.then(() => reload(agent, values, log));
    };
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
          process.off('SIGHUP', onHangup);
          resolve(0);
        },
        (err: unknown) => {
          log.error({ err }, 'graceful stop failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    process.on('SIGHUP', onHangup);
    void agent.shutdownRequest.then(() => onSignal('SIGTERM'));
    if (launchedByNpm()) {
      watchLauncher(() => {
        if (signalled) return;
        log.warn('the npm process that launched the agent is gone (stopped by a signal?): leaving as for SIGTERM');
        onSignal('SIGTERM');
      });
    }
  });
}
