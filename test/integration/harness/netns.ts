import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Exit } from './agent-process.ts';
import { VIGIL_BIN } from './agent-process.ts';

const execFileP = promisify(execFile);

/** Runs `ip ARGS`; the error names the command and carries ip's own message. */
export async function ip(...args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileP('ip', args, { timeout: 10_000 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`\`ip ${args.join(' ')}\` failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/**
 * A small LAN of network namespaces, one per host, wired so that it can be cut in two:
 *
 *   hub namespace:  br0 ── t0 ═ t1 ── br1        (t0/t1: a veth pair, the "inter-switch link")
 *                    │                  │
 *                 p0 p1 p2           p3 p4       (veths; their peers are eth0 in host ns0..ns4)
 *
 * Every interface lives inside a namespace created here; the root namespace gets no link, no
 * address and no route, so no traffic can leave the lab. `cut()` takes t0 down (3|2 partition),
 * `heal()` brings it back up. Host i has address 10.213.0.(11+i)/24 and no default route.
 */
export class NetnsLab {
  readonly prefix: string;
  readonly hub: string;
  readonly hosts: readonly string[];
  readonly addrs: readonly string[];
  private readonly created: string[] = [];

  private constructor(prefix: string, sides: readonly number[]) {
    this.prefix = prefix;
    this.hub = `${prefix}-hub`;
    this.hosts = sides.map((_, i) => `${prefix}-h${i}`);
    this.addrs = sides.map((_, i) => `10.213.0.${11 + i}`);
  }

  /**
   * Builds the lab. `sides[i]` is 0 or 1: the switch (br0/br1) host i hangs off. If namespaces
   * cannot be made here, the error says so plainly; callers must let it fail, never skip.
   */
  static async create(prefix: string, sides: readonly (0 | 1)[]): Promise<NetnsLab> {
    const lab = new NetnsLab(prefix, sides);
    try {
      await lab.addNamespace(lab.hub);
    } catch (err) {
      throw new Error(
        `network namespaces are not available on this machine, so the multi-host test cannot run ` +
          `(it needs root, or CAP_SYS_ADMIN and CAP_NET_ADMIN, and iproute2): ${(err as Error).message}`,
      );
    }
    try {
      const hub = ['-n', lab.hub];
      await ip(...hub, 'link', 'add', 'br0', 'type', 'bridge');
      await ip(...hub, 'link', 'add', 'br1', 'type', 'bridge');
      await ip(...hub, 'link', 'add', 't0', 'type', 'veth', 'peer', 'name', 't1');
      await ip(...hub, 'link', 'set', 't0', 'master', 'br0');
      await ip(...hub, 'link', 'set', 't1', 'master', 'br1');
      for (const [i, host] of lab.hosts.entries()) {
        await lab.addNamespace(host);
        await ip(...hub, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host);
        await ip(...hub, 'link', 'set', `p${i}`, 'master', `br${sides[i]}`);
        await ip(...hub, 'link', 'set', `p${i}`, 'up');
        await ip('-n', host, 'addr', 'add', `${lab.addrs[i]}/24`, 'dev', 'eth0');
        await ip('-n', host, 'link', 'set', 'eth0', 'up');
      }
      for (const link of ['br0', 'br1', 't0', 't1']) await ip(...hub, 'link', 'set', link, 'up');
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  private async addNamespace(name: string): Promise<void> {
    await ip('netns', 'add', name);
    this.created.push(name);
    await ip('-n', name, 'link', 'set', 'lo', 'up');
  }

  /** Takes the inter-switch link down: br0's hosts and br1's hosts can no longer reach each other. */
  cut(): Promise<string> {
    return ip('-n', this.hub, 'link', 'set', 't0', 'down');
  }

  heal(): Promise<string> {
    return ip('-n', this.hub, 'link', 'set', 't0', 'up');
  }

  /** PIDs of processes still running inside any of the lab's namespaces. */
  async pids(): Promise<number[]> {
    const out: number[] = [];
    for (const ns of this.created) {
      const text = await ip('netns', 'pids', ns).catch(() => '');
      out.push(...text.split(/\s+/).filter(Boolean).map(Number));
    }
    return out;
  }

  /**
   * Kills whatever still runs inside the lab's namespaces (only processes this lab's user
   * started there), then deletes every namespace; the veths and bridges go with them.
   */
  async destroy(): Promise<void> {
    for (const pid of await this.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const errors: string[] = [];
    for (const ns of this.created.splice(0).reverse()) {
      await ip('netns', 'del', ns).catch((err: Error) => errors.push(err.message));
    }
    if (errors.length > 0) throw new Error(`could not remove the lab: ${errors.join('; ')}`);
  }
}

/** A `vigil agent` run inside a namespace with `ip netns exec` (which execs, so the PID is the agent's). */
export class NetnsAgent {
  readonly node: string;
  readonly ns: string;
  readonly addr: string;
  readonly gossipPort = 7946;
  readonly httpPort = 7948;
  readonly dataDir: string;
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  private output = '';

  private constructor(node: string, ns: string, addr: string, dataDir: string, child: ChildProcess) {
    this.node = node;
    this.ns = ns;
    this.addr = addr;
    this.dataDir = dataDir;
    this.child = child;
    child.stdout?.on('data', (d) => {
      this.output += d;
    });
    child.stderr?.on('data', (d) => {
      this.output += d;
    });
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** `dataDir`: reuse one (a restart after a kill); by default a fresh temporary directory. */
  static async spawn(opts: {
    node: string;
    ns: string;
    addr: string;
    extraArgs?: readonly string[];
    dataDir?: string;
  }) {
    const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), `vigil-netns-${opts.node}-`)));
    const args = [
      'netns',
      'exec',
      opts.ns,
      process.execPath,
      VIGIL_BIN,
      'agent',
      '--node',
      opts.node,
      '--bind',
      `${opts.addr}:7946`,
      '--http',
      '127.0.0.1:7948',
      '--p2p',
      `${opts.addr}:7947`,
      '--data-dir',
      dataDir,
      '--log-format',
      'json',
      ...(opts.extraArgs ?? []),
    ];
    const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    return new NetnsAgent(opts.node, opts.ns, opts.addr, dataDir, child);
  }

  get logs(): string {
    return this.output;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** GET on the agent's HTTP API, which listens on 127.0.0.1 inside its namespace: curl run there. */
  async get<T = unknown>(path: string): Promise<T> {
    return JSON.parse(await this.curl(path)) as T;
  }

  /** PUT of a JSON body on the agent's HTTP API; its response body. */
  async put(path: string, body: unknown): Promise<string> {
    return this.curl(path, '-X', 'PUT', '--data', JSON.stringify(body));
  }

  private async curl(path: string, ...args: string[]): Promise<string> {
    const { stdout } = await execFileP(
      'ip',
      [
        'netns',
        'exec',
        this.ns,
        'curl',
        '-sS',
        '--fail',
        '--max-time',
        '2',
        ...args,
        `http://127.0.0.1:${this.httpPort}${path}`,
      ],
      { timeout: 5_000 },
    );
    return stdout;
  }

  async waitForHttp(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.running) {
      try {
        await this.get('/healthz');
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    throw new Error(`agent ${this.node} in ${this.ns} did not answer (running: ${this.running})\n${this.output}`);
  }

  /** Kills this agent by its PID and removes its data directory. */
  async dispose(): Promise<void> {
    if (this.running && this.child.pid !== undefined) process.kill(this.child.pid, 'SIGKILL');
    await this.exited;
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

/**
 * Ends a netns test: each agent killed by its PID, then the lab removed. Every step runs, and
 * their failures are thrown together (with `errors` gathered before, if any).
 */
export async function disposeLab(
  agents: readonly (NetnsAgent | undefined)[],
  lab: NetnsLab | undefined,
  errors: unknown[] = [],
): Promise<void> {
  for (const a of agents) if (a) await a.dispose().catch((err) => errors.push(err));
  await lab?.destroy().catch((err) => errors.push(err));
  if (errors.length > 0) throw new AggregateError(errors, 'netns cleanup failed');
}
