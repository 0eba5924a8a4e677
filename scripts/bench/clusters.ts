// The two kinds of cluster the benchmark drives, behind one interface: N real `serf agent` or
// `vigil agent` processes on loopback, started without --join so that the joins can be issued all
// at once through each agent's own API once every process is up (process start time, which for
// Node is mostly module loading, is then not counted as membership convergence).

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort as allocPort, releasePort } from './free-port.ts';
import { SerfRpc } from './serf-rpc.ts';
import { type AgentEvent, followEvents } from './sse.ts';

export const VIGIL_BIN = fileURLToPath(new URL('../../packages/agent/bin/vigil.js', import.meta.url));

/** `baseline`: Vigil from another checkout (--baseline DIR), to compare two versions in one run. */
/** The agent entry point of a checkout of this repository (with its node_modules installed). */
export function vigilBinOf(checkout: string): string {
  return join(checkout, 'packages', 'agent', 'bin', 'vigil.js');
}

export type Impl = 'serf' | 'vigil' | 'baseline';

/** A member as one agent sees it, in one vocabulary: Serf's `failed` is `dead` here. */
export interface SeenMember {
  readonly status: 'alive' | 'suspect' | 'dead' | 'left' | 'leaving';
  /** Vigil only: suspect and confirmed by at least two independent observers. */
  readonly confirmedSuspect?: boolean;
  readonly confirmations?: number;
}

export type View = Map<string, SeenMember>;

export interface BenchAgent {
  readonly name: string;
  readonly gossipPort: number;
  /** Vigil only: the libp2p catalog plane's listening port, whose traffic the bench counts too. */
  readonly p2pPort?: number;
  readonly child: ChildProcess;
  /** The command that started it, to start it again the same way (restart). */
  readonly command: string;
  readonly args: readonly string[];
  /** The last few KiB of the agent's output, for error messages. */
  logTail(): string;
}

/** Every process this module started, so that an interrupted run can still kill them by PID. */
export const liveChildren = new Set<ChildProcess>();

function track(child: ChildProcess): () => string {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4096);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => tail;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An agent that exited without being told to: its exit and the end of its output. */
export interface Crash {
  readonly name: string;
  readonly code: number | null;
  readonly signal: string | null;
  readonly output: string;
}

export interface StartOptions {
  readonly encrypt?: string | undefined;
}

export abstract class Cluster {
  abstract readonly impl: Impl;
  readonly n: number;
  readonly agents: BenchAgent[] = [];
  readonly crashes: Crash[] = [];
  /** Agents we signalled or asked to leave; their exit is expected. */
  private readonly expected = new Set<number>();
  protected dir = '';
  private readonly ports: number[] = [];

  protected async freePort(): Promise<number> {
    const port = await allocPort();
    this.ports.push(port);
    return port;
  }

  constructor(n: number) {
    this.n = n;
  }

  get names(): string[] {
    return this.agents.map((a) => a.name);
  }

  /** Spawns every agent and waits until each one's API answers. */
  abstract start(opts: StartOptions): Promise<void>;
  /** One read of agent i's member list. */
  abstract view(i: number): Promise<View>;
  /** Issues every agent's join to agent 0 at once; resolves when all the join calls returned. */
  abstract joinAll(): Promise<void>;
  /** Graceful leave: Vigil by SIGTERM (its contract), Serf by `serf leave` over RPC. */
  abstract leave(i: number): Promise<void>;
  /** Arguments a restarted agent gets on top of its original ones (how it finds the cluster again). */
  protected abstract rejoinArgs(): string[];
  /** One check that agent i's API answers (Serf: its RPC accepts a handshake; Vigil: /healthz). */
  protected abstract ping(i: number): Promise<void>;

  /** Resolves once agent i's API answers, for example after a restart. */
  ready(i: number, timeoutMs = 60_000): Promise<void> {
    return this.waitReady(i, () => this.ping(i), timeoutMs);
  }

  /**
   * Starts agent i again, after it was killed, with the same name, ports and data directory (a
   * crashed host's supervisor restarting it). Its own view is no longer followed: it serves as a
   * member, not as an observer. Resolves once the process is spawned.
   */
  restart(i: number): void {
    const old = this.agents[i]!;
    if (this.running(i)) throw new Error(`agent ${i} is still running`);
    const args = [...old.args, ...this.rejoinArgs()];
    const child = spawn(old.command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.agents[i] = { ...old, child, logTail: track(child) };
    this.expected.delete(i);
    this.watchExit(i);
  }

  /** The last few KiB of agent i's output (its JSON log at warn level, for Vigil). */
  logTail(i: number): string {
    return this.agents[i]!.logTail();
  }

  pid(i: number): number {
    return this.agents[i]!.child.pid!;
  }

  /** Call once per agent right after spawning it. */
  protected watchExit(i: number): void {
    const a = this.agents[i]!;
    a.child.once('exit', (code, signal) => {
      if (this.expected.has(i)) return;
      // Keep what is not a JSON log line (a crash's stack), or else the last lines.
      const text = a.logTail();
      const plain = text
        .split('\n')
        .filter((l) => !l.startsWith('{'))
        .join('\n')
        .trim();
      this.crashes.push({ name: a.name, code, signal, output: (plain || text).slice(-2000) });
    });
  }

  expectExit(i: number): void {
    this.expected.add(i);
  }

  signal(i: number, sig: NodeJS.Signals): void {
    if (sig === 'SIGKILL' || sig === 'SIGTERM' || sig === 'SIGINT') this.expected.add(i);
    const child = this.agents[i]!.child;
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  }

  running(i: number): boolean {
    const child = this.agents[i]!.child;
    return child.exitCode === null && child.signalCode === null;
  }

  async dispose(): Promise<void> {
    for (let i = 0; i < this.agents.length; i++) this.expected.add(i);
    await Promise.all(
      this.agents.map(async (a) => {
        if (a.child.exitCode !== null || a.child.signalCode !== null) return;
        const exited = new Promise((r) => a.child.once('exit', r));
        a.child.kill('SIGKILL');
        await Promise.race([exited, sleep(5000)]);
      }),
    );
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    for (const p of this.ports.splice(0)) releasePort(p);
  }

  protected async waitReady(i: number, probe: () => Promise<unknown>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running(i)) throw new Error(`${this.impl} agent ${i} exited at start:\n${this.agents[i]!.logTail()}`);
      try {
        await probe();
        return;
      } catch {
        if (Date.now() > deadline)
          throw new Error(
            `${this.impl} agent ${i} did not answer within ${timeoutMs} ms:\n${this.agents[i]!.logTail()}`,
          );
        await sleep(100);
      }
    }
  }
}

export class SerfCluster extends Cluster {
  readonly impl = 'serf' as const;
  private readonly rpcs: SerfRpc[] = [];
  private readonly rpcPorts: number[] = [];

  async start(opts: StartOptions): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'bench-serf-'));
    for (let i = 0; i < this.n; i++) {
      const name = `s${i}`;
      const gossipPort = await this.freePort();
      const rpcPort = await this.freePort();
      const args = ['agent', '-node', name, '-bind', `127.0.0.1:${gossipPort}`, '-rpc-addr', `127.0.0.1:${rpcPort}`];
      args.push('-profile', 'lan', '-log-level', 'warn');
      if (opts.encrypt) args.push('-encrypt', opts.encrypt);
      const child = spawn('serf', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      this.agents.push({ name, gossipPort, child, command: 'serf', args, logTail: track(child) });
      this.watchExit(i);
      this.rpcPorts.push(rpcPort);
    }
    await Promise.all(
      this.agents.map((_, i) =>
        this.waitReady(
          i,
          async () => {
            this.rpcs[i] = await SerfRpc.connect(this.rpcPorts[i]!);
          },
          30_000,
        ),
      ),
    );
  }

  async view(i: number): Promise<View> {
    const list = await this.rpcs[i]!.members();
    return new Map(
      list.map((m) => [m.name, { status: (m.status === 'failed' ? 'dead' : m.status) as SeenMember['status'] }]),
    );
  }

  async joinAll(): Promise<void> {
    const seed = `127.0.0.1:${this.agents[0]!.gossipPort}`;
    await Promise.all(this.rpcs.slice(1).map((r) => r.join(seed)));
  }

  async leave(i: number): Promise<void> {
    this.expectExit(i);
    await this.rpcs[i]!.leave();
  }

  protected async ping(i: number): Promise<void> {
    (await SerfRpc.connect(this.rpcPorts[i]!)).close();
  }

  /** The bench runs Serf without a snapshot file, so a restarted Serf agent joins agent 0. */
  protected rejoinArgs(): string[] {
    return ['-join', `127.0.0.1:${this.agents[0]!.gossipPort}`];
  }

  override async dispose(): Promise<void> {
    for (const r of this.rpcs) r?.close();
    await super.dispose();
  }
}

function seen(m: VigilMember): SeenMember {
  return {
    status: m.status,
    confirmedSuspect: m.confirmedSuspect === true,
    ...(m.confirmations !== undefined ? { confirmations: m.confirmations } : {}),
  };
}

interface VigilMember {
  name: string;
  status: SeenMember['status'];
  confirmations?: number;
  confirmedSuspect?: boolean;
}

export class VigilCluster extends Cluster {
  readonly impl: 'vigil' | 'baseline';
  /** The `vigil.js` this cluster runs: this checkout's sources, a built package's, or the baseline checkout's. */
  private readonly bin: string;
  private readonly httpPorts: number[] = [];
  /** Each agent's view, kept current from its event stream (see sse.ts for why not polling). */
  private readonly views: View[] = [];
  private readonly streams = new AbortController();

  /** `bin`: a built package's bin (--vigil-bin), or another checkout's for the baseline (see vigilBinOf). */
  constructor(n: number, bin = VIGIL_BIN, impl: 'vigil' | 'baseline' = 'vigil') {
    super(n);
    this.impl = impl;
    this.bin = bin;
  }

  async start(opts: StartOptions): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'bench-vigil-'));
    for (let i = 0; i < this.n; i++) {
      const name = `v${i}`;
      const gossipPort = await this.freePort();
      const httpPort = await this.freePort();
      const p2pPort = await this.freePort();
      const dataDir = join(this.dir, name);
      await mkdir(dataDir);
      const args = [this.bin, 'agent', '--node', name, '--bind', `127.0.0.1:${gossipPort}`];
      args.push('--http', `127.0.0.1:${httpPort}`, '--p2p', `127.0.0.1:${p2pPort}`, '--data-dir', dataDir);
      args.push('--profile', 'lan', '--log-level', 'warn', '--log-format', 'json', '--dns', 'off');
      if (opts.encrypt) args.push('--encrypt', opts.encrypt);
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      this.agents.push({ name, gossipPort, p2pPort, child, command: process.execPath, args, logTail: track(child) });
      this.watchExit(i);
      this.httpPorts.push(httpPort);
    }
    await Promise.all(
      this.agents.map((_, i) =>
        this.waitReady(
          i,
          async () => {
            const res = await fetch(`http://127.0.0.1:${this.httpPorts[i]}/healthz`, {
              signal: AbortSignal.timeout(2000),
            });
            if (!res.ok) throw new Error(String(res.status));
            await res.arrayBuffer();
          },
          300_000,
        ),
      ),
    );
    await this.followViews();
  }

  /** Agent i's member list as of its last event: no request to the agent, so watching costs it nothing. */
  async view(i: number): Promise<View> {
    if (!this.running(i)) throw new Error(`agent ${i} is not running`);
    return new Map(this.views[i]);
  }

  /** Reads every agent's member list once, then follows its member events. */
  private async followViews(): Promise<void> {
    await Promise.all(
      this.httpPorts.map(async (port, i) => {
        const view: View = new Map();
        this.views[i] = view;
        // Events that arrive before the list has been read wait, and apply only if newer than it.
        let early: AgentEvent[] | undefined = [];
        const apply = (e: AgentEvent) => {
          const { member } = e.data as { member: VigilMember };
          view.set(member.name, seen(member));
        };
        await followEvents(
          port,
          (e) => {
            if (e.type !== 'member') return;
            if (early) early.push(e);
            else apply(e);
          },
          this.streams.signal,
        );
        const res = await fetch(`http://127.0.0.1:${port}/v1/members`, { signal: AbortSignal.timeout(10_000) });
        if (!res.ok) throw new Error(`GET /v1/members: ${res.status}`);
        const readAt = Number(res.headers.get('x-vigil-index'));
        for (const m of (await res.json()) as VigilMember[]) view.set(m.name, seen(m));
        for (const e of early ?? []) if (e.id > readAt) apply(e);
        early = undefined;
      }),
    );
  }

  override async dispose(): Promise<void> {
    this.streams.abort();
    await super.dispose();
  }

  async joinAll(): Promise<void> {
    const seed = `127.0.0.1:${this.agents[0]!.gossipPort}`;
    await Promise.all(
      this.httpPorts.slice(1).map(async (port) => {
        const res = await fetch(`http://127.0.0.1:${port}/v1/agent/join/${seed}`, {
          method: 'PUT',
          signal: AbortSignal.timeout(15_000),
        });
        if (!res.ok) throw new Error(`join: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
      }),
    );
  }

  async leave(i: number): Promise<void> {
    this.signal(i, 'SIGTERM');
  }

  protected async ping(i: number): Promise<void> {
    const res = await fetch(`http://127.0.0.1:${this.httpPorts[i]}/healthz`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) throw new Error(String(res.status));
    await res.arrayBuffer();
  }

  /** GET a JSON path from agent i's API (diagnostics after a scenario), or undefined if it fails. */
  async api<T>(i: number, path: string): Promise<T | undefined> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.httpPorts[i]}${path}`, { signal: AbortSignal.timeout(5000) });
      return res.ok ? ((await res.json()) as T) : undefined;
    } catch {
      return undefined;
    }
  }

  /** None: a Vigil agent rejoins from the member snapshot in its data directory. */
  protected rejoinArgs(): string[] {
    return [];
  }
}
