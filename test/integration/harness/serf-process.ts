import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Exit } from './agent-process.ts';
import { freePort } from './free-port.ts';

const run = promisify(execFile);

export interface SerfMember {
  readonly name: string;
  readonly addr: string;
  readonly port: number;
  readonly status: string;
  readonly tags: Record<string, string>;
}

/** A real HashiCorp Serf agent (Debian's `serf` package) on loopback: our conformance partner. */
export class SerfProcess {
  readonly node: string;
  readonly gossipPort: number;
  readonly rpcPort: number;
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  private readonly dir: string;
  private output = '';

  private constructor(node: string, gossipPort: number, rpcPort: number, dir: string, child: ChildProcess) {
    this.node = node;
    this.gossipPort = gossipPort;
    this.rpcPort = rpcPort;
    this.dir = dir;
    this.child = child;
    child.stdout?.on('data', (d) => {
      this.output += d;
    });
    child.stderr?.on('data', (d) => {
      this.output += d;
    });
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  static async start(opts: { node: string; join?: number; encrypt?: string }): Promise<SerfProcess> {
    const gossipPort = await freePort();
    const rpcPort = await freePort();
    const dir = await mkdtemp(join(tmpdir(), `serf-${opts.node}-`));
    const args = ['agent', '-node', opts.node, '-bind', `127.0.0.1:${gossipPort}`, '-rpc-addr', `127.0.0.1:${rpcPort}`];
    args.push('-snapshot', join(dir, 'snapshot'), '-log-level', 'debug');
    if (opts.encrypt) args.push('-encrypt', opts.encrypt);
    if (opts.join) args.push('-join', `127.0.0.1:${opts.join}`);
    const child = spawn('serf', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const serf = new SerfProcess(opts.node, gossipPort, rpcPort, dir, child);
    created.add(serf);
    // Ready once its RPC answers.
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null) throw new Error(`serf ${opts.node} exited:\n${serf.output}`);
      try {
        await serf.members();
        return serf;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`serf ${opts.node} did not start:\n${serf.output}`);
  }

  get logs(): string {
    return this.output;
  }

  async members(): Promise<SerfMember[]> {
    const { stdout } = await run('serf', ['members', '-rpc-addr', `127.0.0.1:${this.rpcPort}`, '-format', 'json']);
    const parsed = JSON.parse(stdout) as {
      members: { name: string; addr: string; status: string; tags: Record<string, string> }[];
    };
    return parsed.members.map((m) => {
      const i = m.addr.lastIndexOf(':');
      return {
        name: m.name,
        addr: m.addr.slice(0, i),
        port: Number(m.addr.slice(i + 1)),
        status: m.status,
        tags: m.tags,
      };
    });
  }

  async status(of: string): Promise<string | undefined> {
    return (await this.members()).find((m) => m.name === of)?.status;
  }

  /** `serf leave`: a graceful leave, after which the agent exits. */
  async leave(): Promise<void> {
    await run('serf', ['leave', '-rpc-addr', `127.0.0.1:${this.rpcPort}`]);
    await this.exited;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  async dispose(): Promise<void> {
    await this.kill('SIGKILL');
    created.delete(this);
    await rm(this.dir, { recursive: true, force: true });
  }
}

const created = new Set<SerfProcess>();

export async function disposeAllSerf(): Promise<void> {
  await Promise.all([...created].map((s) => s.dispose()));
}
