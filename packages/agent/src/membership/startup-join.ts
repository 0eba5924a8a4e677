import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { DataDir } from '../data-dir/data-dir.ts';
import { aloneWarning } from '../data-dir/members-file.ts';
import type { Logger } from '../log.ts';
import type { TimerHandle, Timers } from '../runtime/index.ts';
import { type Address, addressKey } from './address.ts';

export interface JoinResult {
  readonly joined: number;
  readonly errors: readonly string[];
}

/** Start-up join retries back off from 1 s to 30 s (Consul's retry_interval default). */
const RETRY_JOIN_FIRST_MS = 1000;
const RETRY_JOIN_MAX_MS = 30_000;

export interface JoinTargetOptions {
  /** Also the members of the last snapshot in the data dir. */
  readonly withSnapshot: boolean;
  readonly dataDir: Pick<DataDir, 'readMembers'>;
  readonly log: Logger;
  /** Our own name: the snapshot never lists it, but an old one might. */
  readonly self: string;
  /** Our own addresses (advertised and bound): joining ourselves would only time out. */
  readonly own: readonly Address[];
}

/** The addresses to push/pull with: seeds resolved (DNS names too) and, when asked, the snapshot. */
export async function joinTargets(
  seeds: readonly Address[],
  opts: JoinTargetOptions,
): Promise<{ targets: Address[]; errors: string[] }> {
  const targets = new Map<string, Address>();
  const errors: string[] = [];
  for (const seed of seeds) {
    try {
      const host = isIP(seed.host) ? seed.host : (await lookup(seed.host)).address;
      targets.set(addressKey({ host, port: seed.port }), { host, port: seed.port });
    } catch (err) {
      errors.push(`${seed.host}:${seed.port}: cannot resolve (${(err as Error).message})`);
    }
  }
  if (opts.withSnapshot) {
    const snapshot = await opts.dataDir.readMembers();
    if (snapshot.problem) opts.log.warn(snapshot.problem);
    for (const m of snapshot.members) {
      if (m.name !== opts.self) targets.set(addressKey(m), { host: m.host, port: m.port });
    }
  }
  for (const a of opts.own) targets.delete(addressKey(a));
  return { targets: [...targets.values()], errors };
}

/**
 * One line per join that had somewhere to go: joined, or reached nobody while others are live, or
 * the loud one for an agent that knows nobody live (it is alone).
 */
export function logJoinOutcome(log: Logger, tried: number, result: JoinResult, othersLive: () => boolean): void {
  if (tried === 0) return;
  const { joined, errors } = result;
  if (joined > 0) log.info({ joined, failed: errors.length }, 'joined cluster');
  else if (othersLive()) log.warn({ errors }, 'could not join any member');
  else log.error({ errors }, aloneWarning(tried));
}

/**
 * The start-up join: seeds plus the snapshot, retried with backoff (as Consul's retry_join)
 * until one member answers, so agents can start in any order. The retries run on the runtime's
 * timers, so the simulator replays them in virtual time.
 */
export class StartupJoin {
  private readonly join: (seeds: readonly Address[]) => Promise<JoinResult>;
  private readonly timers: Timers;
  private timer: TimerHandle | undefined;
  private cancelled = false;

  /** `join`: one attempt through the seeds and the snapshot. */
  constructor(join: (seeds: readonly Address[]) => Promise<JoinResult>, timers: Timers) {
    this.join = join;
    this.timers = timers;
  }

  /** Resolves after the first attempt; the retries, if it reached nobody, go on until `cancel`. */
  async run(seeds: readonly Address[]): Promise<JoinResult> {
    const first = await this.join(seeds);
    if (this.cancelled || first.joined > 0 || (seeds.length === 0 && first.errors.length === 0)) return first;
    let delay = RETRY_JOIN_FIRST_MS;
    const retry = () => {
      this.timer = this.timers.after(delay, async () => {
        if (this.cancelled) return;
        const result = await this.join(seeds);
        if (result.joined > 0 || this.cancelled) return;
        delay = Math.min(delay * 2, RETRY_JOIN_MAX_MS);
        retry();
      });
    };
    retry();
    return first;
  }

  cancel(): void {
    this.cancelled = true;
    this.timer?.cancel();
  }
}
