/** The parts of the agent API's Consul-shaped answers that the CLI reads. */

export interface ApiService {
  readonly ID: string;
  readonly Service: string;
  readonly Address: string;
  readonly Port: number;
  readonly Tags: readonly string[];
  readonly Priority: number;
  readonly Zone: string;
  readonly Weights: { readonly Passing: number; readonly Warning: number };
}

export interface ApiCheck {
  readonly CheckID: string;
  readonly Name: string;
  readonly Status: 'passing' | 'warning' | 'critical';
  readonly Notes: string;
  readonly Output: string;
  readonly ServiceID: string;
  readonly ServiceName: string;
  readonly Type: string;
}

const RANK = { passing: 0, warning: 1, critical: 2, maintenance: 3 } as const;
export type Health = keyof typeof RANK;

/** A service's health from the check list, as the agent aggregates it (maintenance first). */
export function healthOf(serviceId: string, checks: Readonly<Record<string, ApiCheck>>): Health {
  let health: Health = 'passing';
  for (const check of Object.values(checks)) {
    if (check.ServiceID !== serviceId && check.ServiceID !== '') continue;
    const status: Health =
      check.CheckID === '_node_maintenance' || check.CheckID === `_service_maintenance:${serviceId}`
        ? 'maintenance'
        : check.Status;
    if (RANK[status] > RANK[health]) health = status;
  }
  return health;
}
