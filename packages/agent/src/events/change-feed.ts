import { EventEmitter } from 'node:events';
import { type Runtime, realRuntime } from '../runtime/index.ts';

export interface FeedEvent<T = unknown> {
  /** Rises by one with every event; blocking queries and SSE resume from it. */
  readonly index: number;
  readonly type: string;
  readonly at: number;
  readonly data: T;
}

/** Keep this many events so a reconnecting client resumes without a full resync. */
const DEFAULT_BACKLOG = 4096;

/**
 * The agent's ordered change log (member and route changes). One rising index serves Consul-style
 * blocking queries (`?index=&wait=`) and the SSE stream's `Last-Event-ID`.
 */
export class ChangeFeed {
  private readonly events: FeedEvent[] = [];
  private readonly emitter = new EventEmitter<{ event: [FeedEvent] }>();
  private readonly backlog: number;
  private current: number;
  private readonly runtime: Runtime;
  private waits = 0;

  /**
   * Starts at 1: Consul's clients treat 0 as "no index", and the first change must then move
   * the index past what they were told.
   */
  constructor(start = 1, backlog = DEFAULT_BACKLOG, runtime: Runtime = realRuntime()) {
    this.current = start;
    this.runtime = runtime;
    this.backlog = backlog;
    this.emitter.setMaxListeners(0);
  }

  index(): number {
    return this.current;
  }

  /** The feed's wall clock (ms since the epoch): what stamps its events' `at`. */
  wallNow(): number {
    return this.runtime.clock.wallNow();
  }

  publish<T>(type: string, data: T): FeedEvent<T> {
    const event = { index: ++this.current, type, at: this.runtime.clock.wallNow(), data };
    this.events.push(event);
    if (this.events.length > this.backlog) this.events.splice(0, this.events.length - this.backlog);
    this.emitter.emit('event', event);
    return event;
  }

  /** Events after `index`, or undefined when some of them are no longer kept (resync needed). */
  since(index: number): FeedEvent[] | undefined {
    if (index >= this.current) return [];
    const first = this.events[0];
    if (!first || first.index > index + 1) return undefined;
    return this.events.slice(index + 1 - first.index);
  }

  subscribe(listener: (event: FeedEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }

  /** Listeners now subscribed (event streams, and blocking queries while they wait). */
  subscribers(): number {
    return this.emitter.listenerCount('event');
  }

  /** How many waitForChange calls are pending (blocking queries held open). */
  waiting(): number {
    return this.waits;
  }

  /**
   * Resolves once the index passes `after` (at once if it already has), or after `waitMs` plus a
   * random share of `jitterMs` (so that many clients that started together do not return together).
   */
  waitForChange(after: number, waitMs: number, signal?: AbortSignal, jitterMs = 0): Promise<void> {
    if (this.current > after || signal?.aborted) return Promise.resolve();
    this.waits++;
    return new Promise((resolve) => {
      let settled = false;
      const done = () => {
        if (settled) return;
        settled = true;
        this.waits--;
        timer.cancel();
        off();
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const off = this.subscribe((e) => {
        if (e.index > after) done();
      });
      const timer = this.runtime.timers.after(waitMs + this.runtime.random.next() * jitterMs, done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
