// One host's view of one service endpoint it calls: the collective outlier detection's input.
// An agent folds the outcomes its local SDK clients report into one opinion per endpoint and
// publishes its opinions inside its own signed node record, so they travel, are versioned and are
// verified exactly like the services they sit beside. Every timestamp is the observer's own wall
// clock: the verdict is computed from these carried times, never from when a copy arrived.

/** failing: recent calls fail; ok: recent calls succeed; idle: no calls for a window. */
export type OpinionState = 'failing' | 'ok' | 'idle';

export interface OpinionTransition {
  /** Observer's wall-clock ms. */
  readonly at: number;
  readonly state: OpinionState;
}

/** Outcomes of calls, by class of failure, and their mean latency. */
export interface OutcomeCounts {
  readonly ok: number;
  readonly refused: number;
  readonly timeout: number;
  readonly http5xx: number;
  readonly other: number;
  /** Mean latency of those calls, ms. */
  readonly latencyMs: number;
}

export interface EndpointOpinion extends OutcomeCounts {
  /** The endpoint: the node that publishes the instance, and the instance id on it. */
  readonly node: string;
  readonly id: string;
  readonly service: string;
  // OutcomeCounts: the outcomes in the observer's window when the current state began (what it saw).
  /** The last transitions, oldest first; the last one is the current state. Never empty. */
  readonly transitions: readonly OpinionTransition[];
}

/** Bounds every receiver enforces: opinions per record, transitions per opinion. */
export const MAX_OPINIONS_PER_NODE = 128;
export const MAX_OPINION_TRANSITIONS = 8;
/** Changed opinions in one opinion update (published ahead of the record); more go in the record. */
export const MAX_OPINIONS_PER_UPDATE = 32;
