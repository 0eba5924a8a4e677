// `vigil lock NAME -- CMD ARGS...`: runs CMD only while the local agent leads election group NAME.
//
// The agent cannot be trusted to stop CMD (it may be SIGKILLed), so this process supervises it.
// It stands for the lock through the agent's API and polls it; each answer that says "held" grants
// `validMs` of acting, counted from BEFORE the poll was sent (the agent computed it later, so the
// real lease ends no earlier). CMD gets SIGTERM `--grace` before the granted deadline and SIGKILL
// (its whole process group) at it, unless a newer grant came; no answer means no grant. Another
// holder's lease starts only after this one ended, so CMD is dead before another CMD can start.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type Runtime, realRuntime, type TimerHandle } from '../runtime/index.ts';
import { parseDuration } from '../services/duration.ts';
import { AgentClient, AgentRequestError, CLIENT_FLAGS, CLIENT_HELP } from './agent-client.ts';
import { CliUsageError } from './cli-usage-error.ts';
import { parseFlags } from './parse.ts';

const LOCK_HELP = `Usage: vigil lock NAME [options] -- CMD [ARGS...]

Runs CMD only while the local agent leads the election group NAME (a lock). The agent stands for
the lock; voters form from the agents holding a request for NAME plus witnesses. When leadership
may be lost, CMD gets SIGTERM, then SIGKILL (to its process group) after the grace, always before
another holder's lease can start, even if the agent itself is killed. CMD runs again if this agent
wins the lock again. The command exits with CMD's exit code once CMD exits by itself.

CMD's environment has VIGIL_LOCK, VIGIL_TOKEN (the fencing token) and VIGIL_TERM.

  --grace DURATION   SIGTERM this long before the lease could end (default 200ms)
  --poll DURATION    how often the lease is renewed with the agent (default 100ms)
${CLIENT_HELP}`;

interface Grant {
  held: boolean;
  validMs: number;
  token: number;
  term: number;
}

export async function runLock(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const own = dash === -1 ? argv : argv.slice(0, dash);
  const cmd = dash === -1 ? [] : argv.slice(dash + 1);
  const { values, positionals } = parseFlags(
    own,
    { ...CLIENT_FLAGS, grace: { type: 'string' }, poll: { type: 'string' } },
    true,
  );
  if (values.help) {
    process.stdout.write(LOCK_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new CliUsageError('give exactly one lock NAME, then -- CMD');
  if (cmd.length === 0 || cmd[0] === '') throw new CliUsageError('give the command after --: vigil lock NAME -- CMD');
  const ms = (flag: 'grace' | 'poll', fallback: number) => {
    const raw = values[flag];
    if (raw === undefined) return fallback;
    const v = parseDuration(raw);
    if (v === undefined || v < 0) throw new CliUsageError(`--${flag}: "${raw}" is not a duration such as 200ms`);
    return v;
  };
  const holder = new LockHolder({
    name: positionals[0]!,
    cmd,
    graceMs: ms('grace', 200),
    pollMs: Math.max(20, ms('poll', 100)),
    client: new AgentClient(values),
    runtime: realRuntime(),
  });
  return holder.run();
}

export interface LockHolderOptions {
  readonly name: string;
  readonly cmd: readonly string[];
  readonly graceMs: number;
  readonly pollMs: number;
  readonly client: AgentClient;
  readonly runtime: Runtime;
}

export class LockHolder {
  private readonly opts: LockHolderOptions;
  private readonly session = randomBytes(12).toString('hex');
  private readonly path: string;
  private child: ChildProcess | undefined;
  private deadline = Number.NEGATIVE_INFINITY;
  private termTimer: TimerHandle | undefined;
  private killTimer: TimerHandle | undefined;
  private stopping = false;
  private finished!: (code: number) => void;

  constructor(opts: LockHolderOptions) {
    this.opts = opts;
    this.path = `/v1/elections/${encodeURIComponent(opts.name)}/lock?session=${this.session}`;
  }

  async run(): Promise<number> {
    const done = new Promise<number>((resolve) => {
      this.finished = resolve;
    });
    // The runtime's timers are unref'd (an agent must not be kept alive by them); this process
    // lives for as long as it holds or stands for the lock.
    const keepAlive = setInterval(() => {}, 3_600_000);
    const onSignal = () => void this.shutdown(130);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await this.opts.client.put(this.path);
    } catch (err) {
      clearInterval(keepAlive);
      process.stderr.write(`vigil lock: ${(err as Error).message}\n`);
      return 1;
    }
    void this.poll();
    const code = await done;
    clearInterval(keepAlive);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    return code;
  }

  private async poll(): Promise<void> {
    while (!this.stopping) {
      const sentAt = this.opts.runtime.clock.now();
      let grant: Grant | undefined;
      try {
        grant = await this.opts.client.get<Grant>(this.path);
      } catch (err) {
        // The agent restarted and forgot the request: stand again.
        if (err instanceof AgentRequestError && / 404: /.test(err.message)) {
          await this.opts.client.put(this.path).catch(() => {});
        }
      }
      if (this.stopping) return;
      if (grant?.held && grant.validMs > 0) {
        this.deadline = Math.max(this.deadline, sentAt + grant.validMs);
        if (this.child === undefined) this.start(grant);
        this.arm();
      } else if (this.child !== undefined) {
        this.terminate();
      }
      await new Promise<void>((resolve) => this.opts.runtime.timers.after(this.opts.pollMs, resolve));
    }
  }

  private start(grant: Grant): void {
    const [command, ...args] = this.opts.cmd;
    const child = spawn(command!, args, {
      detached: true,
      stdio: 'inherit',
      env: {
        ...process.env,
        VIGIL_LOCK: this.opts.name,
        VIGIL_TOKEN: String(grant.token),
        VIGIL_TERM: String(grant.term),
      },
    });
    this.child = child;
    child.once('error', (err) => process.stderr.write(`vigil lock: cannot run ${command}: ${err.message}\n`));
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      this.termTimer?.cancel();
      this.killTimer?.cancel();
      // Killed by us (lost lease): keep standing. Exited by itself: release and exit with its code.
      if (!this.stopping && !this.killedByUs) void this.shutdown(code ?? (signal ? 128 : 1));
      this.killedByUs = false;
    });
  }

  private killedByUs = false;

  /** SIGTERM at deadline − grace, SIGKILL at the deadline: re-armed with every newer grant. */
  private arm(): void {
    this.termTimer?.cancel();
    this.killTimer?.cancel();
    const now = this.opts.runtime.clock.now();
    this.termTimer = this.opts.runtime.timers.after(this.deadline - this.opts.graceMs - now, () =>
      this.signal('SIGTERM'),
    );
    this.killTimer = this.opts.runtime.timers.after(this.deadline - now, () => this.signal('SIGKILL'));
  }

  /** Lost the lock: SIGTERM now, SIGKILL at the grace or the granted deadline, whichever is first. */
  private terminate(): void {
    if (this.child === undefined) return;
    this.termTimer?.cancel();
    this.killTimer?.cancel();
    this.signal('SIGTERM');
    const now = this.opts.runtime.clock.now();
    const at = Math.min(this.deadline, now + this.opts.graceMs);
    this.killTimer = this.opts.runtime.timers.after(at - now, () => this.signal('SIGKILL'));
  }

  private signal(sig: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    this.killedByUs = true;
    try {
      process.kill(-pid, sig);
    } catch {
      // already gone
    }
  }

  private async shutdown(code: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.child !== undefined) {
      const exited = new Promise<void>((resolve) => this.child?.once('exit', () => resolve()));
      this.terminate();
      await exited;
    }
    await this.opts.client.send('DELETE', this.path).catch(() => {});
    this.finished(code);
  }
}
