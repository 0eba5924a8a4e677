import type { DataDir } from '../data-dir/data-dir.ts';
import type { SnapshotMember } from '../data-dir/members-file.ts';
import type { Logger } from '../log.ts';
import type { Runtime, TimerHandle } from '../runtime/index.ts';

/**
 * Write the member snapshot once membership has been quiet this long, and at most MAX_DELAY_MS
 * after the first change it lacks. A cluster start is a burst of changes; writing (and fsyncing) on
 * each of them cost every agent several writes during the joins, when CPU is scarcest.
 */
const QUIET_MS = 1000;
const MAX_DELAY_MS = 5000;

/**
 * Keeps the data directory's member snapshot (Serf's snapshot: the members last seen alive, so
 * a restarted agent rejoins without a seed) in step with membership, debounced.
 */
export class SnapshotKeeper {
  private readonly runtime: Runtime;
  private readonly dataDir: Pick<DataDir, 'writeMembers'>;
  private readonly log: Logger;
  private readonly members: () => SnapshotMember[];
  private timer: TimerHandle | undefined;
  private dueBy: number | undefined;
  /** What the last write put on disk (or is putting), so an unchanged member set is not rewritten. */
  private saved: string | undefined;
  private write: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(opts: {
    runtime: Runtime;
    dataDir: Pick<DataDir, 'writeMembers'>;
    log: Logger;
    /** The members to keep: live ones other than us. */
    members: () => SnapshotMember[];
  }) {
    this.runtime = opts.runtime;
    this.dataDir = opts.dataDir;
    this.log = opts.log;
    this.members = opts.members;
  }

  /** Membership changed: write within QUIET_MS of the last change, MAX_DELAY_MS of the first. */
  changed(): void {
    if (this.closed) return;
    const now = this.runtime.clock.now();
    this.dueBy ??= now + MAX_DELAY_MS;
    this.timer?.cancel();
    // Past due after a stall: the runtime fires it at once.
    this.timer = this.runtime.timers.after(Math.min(QUIET_MS, this.dueBy - now), () => {
      this.timer = undefined;
      this.save();
    });
  }

  /** Writes a pending change now and waits for the writes in flight; no more after this. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) {
      this.timer.cancel();
      this.save();
    }
    await this.write;
  }

  private save(): void {
    this.dueBy = undefined;
    const members = this.members();
    // Most events (suspicions refuted, metadata updates) leave the set of reachable members as is.
    const key = JSON.stringify(members);
    if (key === this.saved) return;
    this.saved = key;
    this.write = this.write
      .then(async () => {
        if (!(await this.dataDir.writeMembers(members))) this.log.warn('alone: keeping the member snapshot');
      })
      .catch((err: unknown) => {
        this.saved = undefined;
        this.log.error({ err }, 'cannot write member snapshot');
      });
  }
}
