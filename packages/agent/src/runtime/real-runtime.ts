import { performance } from 'node:perf_hooks';
import { clampDelay, type Runtime, type TimerHandle } from './runtime.ts';

/**
 * The production runtime. Timers are unref'd: a plane's timer alone never keeps the process up,
 * its sockets do, so stopping a plane's I/O is enough for the process (and vitest) to exit.
 */
export function realRuntime(): Runtime {
  return {
    clock: { now: () => performance.now(), wallNow: () => Date.now() },
    timers: { after: realAfter },
    random: { next: Math.random },
  };
}

function realAfter(ms: number, fn: () => void): TimerHandle {
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  const due = performance.now() + Math.max(0, Number.isFinite(ms) ? ms : 0);
  const arm = (): void => {
    const left = due - performance.now();
    timer = setTimeout(() => {
      if (cancelled) return;
      if (due - performance.now() > 1) arm();
      else fn();
    }, clampDelay(left));
    timer.unref();
  };
  arm();
  return {
    cancel: () => {
      cancelled = true;
      if (timer) clearTimeout(timer);
    },
  };
}
