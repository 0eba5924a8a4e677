import { openSync, readSync } from 'node:fs';
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

/**
 * Reads small /proc files through a descriptor kept open, by pread at offset 0 (a seq_file makes
 * its contents afresh on each read from 0): one syscall instead of readFileSync's four, ~3 us
 * against ~22 us here, and the meter reads schedstat on each of its samples. The descriptor lives
 * as long as the process (one per path). `/proc/thread-self` resolves when opened, so the first
 * read must come from the thread to be measured: the meter's, the main one.
 */
export function procReader(): (path: string) => string {
  const fds = new Map<string, number>();
  const buf = Buffer.alloc(256);
  return (path) => {
    let fd = fds.get(path);
    if (fd === undefined) {
      fd = openSync(path, 'r');
      fds.set(path, fd);
    }
    return buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, 0));
  };
}

const NODE_INPUTS: ContentionInputs = {
  platform: process.platform,
  read: procReader(),
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
