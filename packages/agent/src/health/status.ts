/** Consul's check states. A new check starts as critical unless its definition says otherwise. */
export const CHECK_STATUSES = ['passing', 'warning', 'critical'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

/** The health of one instance: its checks combined, with maintenance above everything. */
export type InstanceHealth = CheckStatus | 'maintenance';

/** What one run of a check found. */
export interface CheckResult {
  readonly status: CheckStatus;
  readonly output: string;
}

const RANK: Record<InstanceHealth, number> = { passing: 0, warning: 1, critical: 2, maintenance: 3 };

/** The worse of two states: maintenance > critical > warning > passing. */
export function worse<T extends InstanceHealth>(a: T, b: T): T {
  return RANK[b] > RANK[a] ? b : a;
}
