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
  // Node fires a timer when its loop clock, whole milliseconds read at the start of the turn,
  // reaches the delay: up to a millisecond or so before performance.now() reaches `due`. A callback
  // run early finds its own deadline not yet passed (the engines compare against now()) and asks
  // for a 0 ms timer to try again: a second wake-up for every timer (measured: 5.5 of an idle
  // agent's 24 wake-ups a second). One millisecond more on the delay makes it fire after `due`.
  const arm = (): void => {
    const left = due - performance.now();
    timer = setTimeout(
      () => {
        if (cancelled) return;
        if (due > performance.now()) arm();
        else fn();
      },
      left > 0 ? clampDelay(Math.ceil(left) + 1) : 0,
    );
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
