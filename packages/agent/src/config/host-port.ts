// Moved to base/host-port.ts (the ground floor); this re-export serves files owned by other work in
// progress (http/, agent.ts) until they import base/ directly.
export * from '../base/host-port.ts';
