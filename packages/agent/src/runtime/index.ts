export { realRuntime } from './real-runtime.ts';
export {
  type Clock,
  clampDelay,
  MAX_TIMER_MS,
  type Random,
  type Runtime,
  randomInt,
  type TimerHandle,
  type Timers,
} from './runtime.ts';
export { timeoutSignal } from './timeout-signal.ts';
export { VirtualRuntime } from './virtual-runtime.ts';
