// What leadership turns into on this agent.
//
// ServiceActor (policy `leader`): OnPromote when the lease is secure, OnDemote when it is at risk,
// each bounded by its timeout and by the lease's deadline; a promotion still running when the
// demotion starts is killed first. Runs are kept (as check output is) for the API.
//
// LockActor (`vigil lock`, `mesh.elect`): the holder is a process outside the agent, which polls
// `GET /v1/elections/:group/lock` and receives how long it may act (the lease left, minus the
// kill margin). It enforces that deadline itself (SIGTERM, then SIGKILL by the deadline), so CMD
// dies even when this agent is SIGKILLed: the agent-side steps are immediate.

import type { Runtime } from '../runtime/index.ts';
import type { HookSpec } from '../services/definition.ts';
import type { LeadershipActor, LeadershipFacts } from './group.ts';
import { type HookRun, type HookRunner, runHook } from './hooks.ts';

export interface ServiceHooks {
  readonly onPromote?: HookSpec | undefined;
  readonly onDemote?: HookSpec | undefined;
  /** False when the definition came over HTTP and exec is disabled: hooks are skipped, with a note. */
  readonly allowed: boolean;
}

export class ServiceActor implements LeadershipActor {
  /** The last run of each hook, for the API. */
  readonly runs: { promote?: HookRun; demote?: HookRun } = {};
  private readonly service: string;
  private readonly hooks: () => ServiceHooks;
  private readonly runtime: Runtime;
  private readonly run: HookRunner;
  private promoting: AbortController | undefined;
  private promotion: Promise<unknown> = Promise.resolve();

  constructor(service: string, hooks: () => ServiceHooks, runtime: Runtime, run: HookRunner = runHook) {
    this.service = service;
    this.hooks = hooks;
    this.runtime = runtime;
    this.run = run;
  }

  async promote(facts: LeadershipFacts): Promise<void> {
    const { onPromote, allowed } = this.hooks();
    if (onPromote === undefined || !allowed) return;
    const cancel = new AbortController();
    this.promoting = cancel;
    const run = this.run(
      'promote',
      onPromote,
      { service: this.service, role: 'leader', ...facts },
      onPromote.timeoutMs,
      this.runtime,
      cancel.signal,
    );
    this.promotion = run;
    this.runs.promote = await run;
    if (this.promoting === cancel) this.promoting = undefined;
  }

  async demote(facts: LeadershipFacts, deadline: number): Promise<void> {
    this.promoting?.abort();
    this.promoting = undefined;
    await this.promotion;
    const { onDemote, allowed } = this.hooks();
    if (onDemote === undefined || !allowed) return;
    // A lease already over (this process stalled past it) leaves no budget; the application must
    // still be stopped, and late is better than never: then the hook gets its own timeout.
    const left = deadline - this.runtime.clock.now();
    const budget = left > 0 ? left : onDemote.timeoutMs;
    this.runs.demote = await this.run(
      'demote',
      onDemote,
      { service: this.service, role: 'follower', ...facts },
      budget,
      this.runtime,
    );
  }
}

/** The lock holder acts by itself within the deadline it was told; nothing to do here. */
export class LockActor implements LeadershipActor {
  async promote(): Promise<void> {}
  async demote(): Promise<void> {}
}
