import type { Timers } from './runtime.ts';

/**
 * AbortSignal.timeout on the runtime's timers, so a deadline obeys virtual time in the simulator.
 * `done()` cancels the timer once the work has finished (a pending timer is not a leak with the
 * real runtime, which unrefs it, but it is needless work).
 */
export function timeoutSignal(timers: Timers, ms: number): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController();
  const timer = timers.after(ms, () => {
    controller.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError'));
  });
  return { signal: controller.signal, done: () => timer.cancel() };
}
