import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { ContentionSource } from './loop-stall-meter.ts';

/** Per-thread scheduler stats: cpu time, run-queue wait, timeslices (all since thread start). */
const SCHEDSTAT = '/proc/thread-self/schedstat';

export interface ContentionInputs {
  readonly platform: NodeJS.Platform;
  /** Reads a /proc file; throws when it is missing (schedstats off, a restricted /proc). */
  readonly read: (path: string) => string;
  /** Cumulative ms the event loop spent outside its poll (running callbacks): ELU's `active`. */
  readonly activeMs: () => number;
}

const NODE_INPUTS: ContentionInputs = {
  platform: process.platform,
  read: (path) => readFileSync(path, 'latin1'),
  activeMs: () => performance.eventLoopUtilization().active,
};

/**
 * What lets LoopStallMeter sleep (its ContentionSource): the ms our loop was busy (ELU active)
 * plus the ms our thread waited for a CPU (schedstat field 2, ns on a run queue). A stall is one
 * or the other, so their growth over a window bounds every stall inside it. Linux only:
 * undefined elsewhere, or without a readable schedstat, and the meter then always samples.
 */
export function loopContention(inputs: ContentionInputs = NODE_INPUTS): ContentionSource | undefined {
  if (inputs.platform !== 'linux') return undefined;
  const waitedMs = () => {
    const waitedNs = Number(inputs.read(SCHEDSTAT).split(' ')[1]);
    if (!Number.isFinite(waitedNs)) throw new Error(`${SCHEDSTAT}: unexpected contents`);
    return waitedNs / 1e6;
  };
  try {
    waitedMs();
  } catch {
    return undefined;
  }
  return () => {
    try {
      return inputs.activeMs() + waitedMs();
    } catch {
      // Unreadable now: count all time as contention, so the meter samples and reports gaps whole.
      return performance.now();
    }
  };
}
