import type { CheckStatus, InstanceHealth } from '../health/status.ts';
import type { ServiceDefinition } from './definition.ts';

interface EventBase {
  /** Rises by one with every event of this registry; persisted, so it keeps rising across restarts. */
  readonly index: number;
  /** Epoch milliseconds. */
  readonly at: number;
}

/** A service was registered, or re-registered with a new definition. `zone` is resolved. */
export interface ServiceRegisteredEvent extends EventBase {
  readonly type: 'service-registered';
  readonly service: ServiceDefinition & { readonly zone: string };
  readonly health: InstanceHealth;
}

export interface ServiceDeregisteredEvent extends EventBase {
  readonly type: 'service-deregistered';
  readonly serviceId: string;
  readonly name: string;
  readonly reason: 'api' | 'config' | 'critical-too-long';
}

/** A check changed state (after its thresholds). Output-only changes are not events. */
export interface CheckUpdatedEvent extends EventBase {
  readonly type: 'check-updated';
  readonly checkId: string;
  /** Undefined for a node check, which counts for every service. */
  readonly serviceId: string | undefined;
  readonly status: CheckStatus;
  readonly previous: CheckStatus;
  readonly output: string;
}

/** The combined health of an instance changed: what routing acts on. */
export interface HealthChangedEvent extends EventBase {
  readonly type: 'health-changed';
  readonly serviceId: string;
  readonly name: string;
  readonly health: InstanceHealth;
  readonly previous: InstanceHealth;
}

/** Maintenance was turned on or off for the node (no serviceId) or one service. */
export interface MaintenanceEvent extends EventBase {
  readonly type: 'maintenance';
  readonly serviceId: string | undefined;
  readonly enabled: boolean;
  readonly reason: string;
}

export type RegistryEvent =
  | ServiceRegisteredEvent
  | ServiceDeregisteredEvent
  | CheckUpdatedEvent
  | HealthChangedEvent
  | MaintenanceEvent;

/** An event before it gets its index and time. */
export type PendingEvent = RegistryEvent extends infer E
  ? E extends RegistryEvent
    ? Omit<E, 'index' | 'at'>
    : never
  : never;

export type RegistryListener = (event: RegistryEvent) => void;

/**
 * Typed, synchronous event fan-out with a rising index, plus a bounded backlog so that a consumer
 * that fell behind (or subscribes late) can catch up from an index instead of re-reading everything.
 */
export class EventLog {
  private readonly listeners = new Set<RegistryListener>();
  private readonly backlog: RegistryEvent[] = [];
  private readonly backlogSize: number;
  private last: number;
  private readonly onListenerError: (err: unknown) => void;

  constructor(startIndex: number, onListenerError: (err: unknown) => void, backlogSize = 1024) {
    this.last = startIndex;
    this.onListenerError = onListenerError;
    this.backlogSize = backlogSize;
  }

  get index(): number {
    return this.last;
  }

  emit(pending: PendingEvent, at = Date.now()): RegistryEvent {
    const event = { ...pending, index: ++this.last, at } as RegistryEvent;
    this.backlog.push(event);
    if (this.backlog.length > this.backlogSize) this.backlog.shift();
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.onListenerError(err);
      }
    }
    return event;
  }

  /** Calls `listener` for every later event; returns the unsubscribe function. */
  subscribe(listener: RegistryListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * The events after `index`, oldest first. Undefined when some of them are no longer kept: the
   * caller should then take a fresh snapshot.
   */
  since(index: number): RegistryEvent[] | undefined {
    if (index >= this.last) return [];
    const first = this.backlog[0];
    if (first === undefined || first.index > index + 1) return undefined;
    return this.backlog.filter((e) => e.index > index);
  }
}
