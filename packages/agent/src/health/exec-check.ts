import { spawn } from 'node:child_process';
import type { ExecCheckSpec } from './check-spec.ts';
import { TailBuffer } from './output.ts';
import type { ProbeContext } from './probe.ts';
import type { CheckResult, CheckStatus } from './status.ts';

/** The agent's secrets, which a check script has no business reading from its environment. */
const SECRET_ENV = ['VIGIL_ACL_TOKEN', 'VIGIL_HTTP_TOKEN', 'VIGIL_ENCRYPT'];

function checkEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of SECRET_ENV) delete env[name];
  return env;
}

/** Sends a signal to a whole process group; the group may already be gone. */
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: nothing left to kill
  }
}

/**
 * exec check: runs `args` (no shell) in its own process group. Exit 0 is passing, 1 is warning,
 * anything else (or a signal) is critical. stdout and stderr are captured together, keeping the
 * last `outputMaxSize` bytes. When the signal aborts (timeout or agent stop) the whole group gets
 * SIGKILL, so a script's own children do not outlive it either.
 */
export function runExecCheck(spec: ExecCheckSpec, ctx: ProbeContext): Promise<CheckResult> {
  const [command, ...args] = spec.args;
  const output = new TailBuffer(ctx.outputMaxSize);
  return new Promise((resolve) => {
    if (ctx.signal.aborted) {
      resolve({ status: 'critical', output: 'check aborted before it started' });
      return;
    }
    const child = spawn(command!, args, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...checkEnv(), ...ctx.env },
    });
    let settled = false;
    const onAbort = () => {
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
    };
    const settle = (result: CheckResult) => {
      if (settled) return;
      settled = true;
      ctx.signal.removeEventListener('abort', onAbort);
      resolve(result);
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
    child.once('error', (err) => {
      settle({ status: 'critical', output: `could not run ${command}: ${err.message}` });
    });
    child.once('exit', () => {
      // Grandchildren that kept the pipes open could hold 'close' back; after an abort, do not wait.
      if (ctx.signal.aborted) {
        child.stdout.destroy();
        child.stderr.destroy();
        settle({ status: 'critical', output: output.toString() });
      }
    });
    child.once('close', (code, signal) => {
      let status: CheckStatus = 'critical';
      if (code === 0) status = 'passing';
      else if (code === 1) status = 'warning';
      const text = output.toString();
      settle({
        status,
        output: signal ? `${text}${text && !text.endsWith('\n') ? '\n' : ''}killed by ${signal}` : text,
      });
    });
  });
}
