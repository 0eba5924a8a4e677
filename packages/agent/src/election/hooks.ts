// OnPromote / OnDemote: exec hooks run as exec checks are (no shell, own process group, output
// kept to the check's bound, secrets stripped from the environment), plus the election's facts in
// the environment. A hook that outlives its budget has its whole process group SIGKILLed, so a
// demotion is over, one way or the other, by its deadline.

import { DEFAULT_OUTPUT_MAX_SIZE } from '../health/defaults.ts';
import { runExecCheck } from '../health/exec-check.ts';
import type { Runtime } from '../runtime/index.ts';
import type { HookSpec } from '../services/definition.ts';

export type HookKind = 'promote' | 'demote';

export interface HookEnv {
  readonly service: string;
  readonly role: 'leader' | 'follower';
  readonly token: number;
  readonly term: number;
}

export interface HookRun {
  readonly kind: HookKind;
  /** Exit 0 passing, 1 warning, else critical (the exec check's mapping). */
  readonly status: 'passing' | 'warning' | 'critical';
  readonly output: string;
  /** Wall-clock ms. */
  readonly startedAt: number;
  readonly durationMs: number;
  /** The hook ran out of its budget (or a demotion overtook a promotion): its process group was killed. */
  readonly killed: boolean;
}

/** How a hook is run: runHook in the agent; the simulator records the call instead of spawning. */
export type HookRunner = typeof runHook;

/** Runs a hook for at most `budgetMs` (the smaller of its own timeout and what the lease leaves). */
export async function runHook(
  kind: HookKind,
  hook: HookSpec,
  env: HookEnv,
  budgetMs: number,
  runtime: Runtime,
  /** Aborting kills the hook's process group at once (a promotion overtaken by a demotion). */
  cancel?: AbortSignal,
): Promise<HookRun> {
  const startedAt = runtime.clock.wallNow();
  const start = runtime.clock.now();
  const controller = new AbortController();
  let killed: string | undefined;
  const kill = (why: string) => {
    killed ??= why;
    controller.abort();
  };
  cancel?.addEventListener('abort', () => kill('a demotion started'), { once: true });
  const timer = runtime.timers.after(Math.max(0, Math.min(hook.timeoutMs, budgetMs)), () =>
    kill('the hook ran past its budget'),
  );
  try {
    const result = await runExecCheck(
      { type: 'exec', args: hook.args, intervalMs: 0, timeoutMs: hook.timeoutMs },
      {
        signal: controller.signal,
        outputMaxSize: DEFAULT_OUTPUT_MAX_SIZE,
        env: {
          VIGIL_SERVICE: env.service,
          VIGIL_ROLE: env.role,
          VIGIL_TOKEN: String(env.token),
          VIGIL_TERM: String(env.term),
        },
      },
    );
    const output = killed ? `${result.output}\nkilled: ${killed}` : result.output;
    return {
      kind,
      status: killed ? 'critical' : result.status,
      output,
      startedAt,
      durationMs: runtime.clock.now() - start,
      killed: killed !== undefined,
    };
  } finally {
    timer.cancel();
  }
}
