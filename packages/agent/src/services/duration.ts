// Moved to base/duration.ts (the ground floor); this re-export serves files owned by other work in
// progress (http/, agent.ts) until they import base/ directly.
export * from '../base/duration.ts';
