// OnPromote / OnDemote as real processes: the election's facts reach the environment, output is
// kept as check output is, and a hook past its budget has its whole process group killed.
import { describe, expect, it } from 'vitest';
import { ServiceActor } from '../src/election/actors.ts';
import { runHook } from '../src/election/hooks.ts';
import { realRuntime } from '../src/runtime/index.ts';

const env = { service: 'db', role: 'leader' as const, token: 17, term: 4 };

describe('election hooks', () => {
  it('run with VIGIL_SERVICE, VIGIL_ROLE, VIGIL_TOKEN and VIGIL_TERM, output kept', async () => {
    const run = await runHook(
      'promote',
      {
        args: ['/bin/sh', '-c', 'echo "$VIGIL_SERVICE $VIGIL_ROLE $VIGIL_TOKEN $VIGIL_TERM"; exit 1'],
        timeoutMs: 10_000,
      },
      env,
      10_000,
      realRuntime(),
    );
    expect(run).toMatchObject({ kind: 'promote', status: 'warning', killed: false });
    expect(run.output.trim()).toBe('db leader 17 4');
  });

  it('are killed with their process group at the budget, even a grandchild', async () => {
    // The hook starts a background child that would outlive a plain kill of the hook itself.
    const run = await runHook(
      'demote',
      { args: ['/bin/sh', '-c', 'sleep 30 & echo started; wait'], timeoutMs: 10_000 },
      { ...env, role: 'follower' },
      200,
      realRuntime(),
    );
    expect(run.killed).toBe(true);
    expect(run.status).toBe('critical');
    expect(run.output).toMatch(/started[\s\S]*killed: the hook ran past its budget/);
  });

  it('a demotion kills a promotion still running, then runs OnDemote', async () => {
    const hooks = {
      onPromote: { args: ['/bin/sh', '-c', 'echo promoting; sleep 30'], timeoutMs: 60_000 },
      onDemote: { args: ['/bin/sh', '-c', 'echo "demoted $VIGIL_ROLE"'], timeoutMs: 5_000 },
      allowed: true,
    };
    const rt = realRuntime();
    const actor = new ServiceActor('db', () => hooks, rt);
    const promoted = actor.promote({ token: 3, term: 2 });
    await new Promise((r) => setTimeout(r, 100));
    await actor.demote({ token: 3, term: 2 }, rt.clock.now() + 5_000);
    await promoted;
    expect(actor.runs.promote?.killed).toBe(true);
    expect(actor.runs.demote).toMatchObject({ status: 'passing', killed: false });
    expect(actor.runs.demote?.output.trim()).toBe('demoted follower');
  });

  it('are skipped when the definition came over HTTP and exec is disabled', async () => {
    const actor = new ServiceActor(
      'db',
      () => ({ onPromote: { args: ['/bin/false'], timeoutMs: 1000 }, allowed: false }),
      realRuntime(),
    );
    await actor.promote({ token: 1, term: 1 });
    expect(actor.runs.promote).toBeUndefined();
  });
});
