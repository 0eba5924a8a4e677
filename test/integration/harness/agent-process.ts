import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.ts';

export const VIGIL_BIN = fileURLToPath(new URL('../../../packages/agent/bin/vigil.js', import.meta.url));

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Runs `vigil ARGS` to completion and returns its exit code and output. */
export function runVigil(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [VIGIL_BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface AgentOptions {
  readonly node: string;
  readonly dataDir?: string;
  readonly extraArgs?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Reuse ports, e.g. to restart an agent on the address its peers know. */
  readonly gossipPort?: number;
  readonly httpPort?: number;
  /** The DNS port (UDP and TCP); a free one unless given. `--dns` in extraArgs wins. */
  readonly dnsPort?: number;
  /** The HTTP API's bind host (default 127.0.0.1); the harness always reaches it over loopback. */
  readonly httpHost?: string;
  /** Another `vigil.js`, e.g. of an installed package, and the Node that runs it. */
  readonly bin?: string;
  readonly execPath?: string;
}

/** A real `vigil agent` child process on loopback with its own ports and data directory. */
export class AgentProcess {
  readonly node: string;
  readonly dataDir: string;
  readonly gossipPort: number;
  readonly httpPort: number;
  readonly dnsPort: number;
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  private output = '';
  private readonly ownsDataDir: boolean;

  private constructor(opts: {
    node: string;
    dataDir: string;
    ownsDataDir: boolean;
    gossipPort: number;
    httpPort: number;
    dnsPort: number;
    child: ChildProcess;
  }) {
    this.node = opts.node;
    this.dataDir = opts.dataDir;
    this.ownsDataDir = opts.ownsDataDir;
    this.gossipPort = opts.gossipPort;
    this.httpPort = opts.httpPort;
    this.dnsPort = opts.dnsPort;
    this.child = opts.child;
    this.child.stdout?.on('data', (d) => {
      this.output += d;
    });
    this.child.stderr?.on('data', (d) => {
      this.output += d;
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  static async spawn(opts: AgentOptions): Promise<AgentProcess> {
    const ownsDataDir = opts.dataDir === undefined;
    const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), `vigil-${opts.node}-`)));
    const gossipPort = opts.gossipPort ?? (await freePort());
    const httpPort = opts.httpPort ?? (await freePort());
    // Every agent on this host would otherwise take 127.0.0.1:8600.
    const dnsPort = opts.dnsPort ?? (await freePort());
    const args = [
      'agent',
      '--node',
      opts.node,
      '--bind',
      `127.0.0.1:${gossipPort}`,
      '--http',
      `${opts.httpHost ?? '127.0.0.1'}:${httpPort}`,
      '--data-dir',
      dataDir,
      '--log-format',
      'json',
      // libp2p on a free port unless the test chooses one.
      ...(opts.extraArgs?.includes('--p2p') ? [] : ['--p2p', '127.0.0.1:0']),
      ...(opts.extraArgs?.includes('--dns') ? [] : ['--dns', `127.0.0.1:${dnsPort}`]),
      ...(opts.extraArgs ?? []),
    ];
    const child = spawn(opts.execPath ?? process.execPath, [opts.bin ?? VIGIL_BIN, ...args], {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const agent = new AgentProcess({ node: opts.node, dataDir, ownsDataDir, gossipPort, httpPort, dnsPort, child });
    created.add(agent);
    return agent;
  }

  /** Starts an agent and waits until its HTTP API answers. */
  static async start(opts: AgentOptions): Promise<AgentProcess> {
    const agent = await AgentProcess.spawn(opts);
    await agent.waitForHttp();
    return agent;
  }

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  get logs(): string {
    return this.output;
  }

  async get<T = unknown>(path: string): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.url}${path}`);
    return { status: res.status, body: (await res.json()) as T };
  }

  // A running agent on a loaded 2-core host took more than 15 s to answer (services.test.ts, load
  // average ~25); an agent that exits ends the wait at once, so a long bound costs nothing.
  async waitForHttp(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => {
      exited = true;
    });
    while (Date.now() < deadline && !exited) {
      try {
        const res = await fetch(`${this.url}/healthz`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`agent ${this.node} did not answer on ${this.url} (exited: ${exited})\n${this.output}`);
  }

  /** Sends a signal and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  /** Kills the process if it still runs and removes the data directory it made. */
  async dispose(): Promise<void> {
    await this.stop('SIGKILL');
    created.delete(this);
    if (this.ownsDataDir) await rm(this.dataDir, { recursive: true, force: true });
  }
}

const created = new Set<AgentProcess>();

/** For afterEach: no agent outlives its test. */
export async function disposeAllAgents(): Promise<void> {
  await Promise.all([...created].map((a) => a.dispose()));
}
