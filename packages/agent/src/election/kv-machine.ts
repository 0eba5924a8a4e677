import type { StateMachine } from './group.ts';
import { KvStore } from './kv/kv-store.ts';
import type { KvLimits } from './kv/types.ts';
import type { Entry } from './raft/types.ts';

/** The group runner's view of the replicated KV store: a restore replaces the store whole. */
export class KvMachine implements StateMachine {
  store: KvStore;
  private readonly limits: KvLimits | undefined;

  constructor(limits?: KvLimits) {
    this.limits = limits;
    this.store = new KvStore(limits);
  }

  apply(entry: Entry): unknown {
    return this.store.apply(entry);
  }

  snapshot(): Uint8Array {
    return this.store.snapshot();
  }

  restore(data: Uint8Array): void {
    this.store = KvStore.restore(data, this.limits);
  }
}
