// Collective outlier detection: see README.md in this folder.
export { addFlap, type DampingOptions, decayed, suppressedUntil } from './damping.ts';
export { OUTLIER_DEFAULTS, type OutlierOptions, resolveOutlierOptions } from './defaults.ts';
export { type Explanation, explainDemotions } from './explain.ts';
export { type ObserverHealth, observerHealth } from './observer-discount.ts';
export { type Observation, OpinionFolder } from './opinion-fold.ts';
export {
  OPINION_LAZY_RECORD_DELAY_MS,
  OPINION_PUBLISH_MIN_MS,
  OPINION_RECORD_DELAY_MS,
  OutlierPlane,
} from './outlier-plane.ts';
export { computeVerdict, type Ejection, type HeldEjection, type OutlierVerdict, type VerdictInput } from './verdict.ts';
