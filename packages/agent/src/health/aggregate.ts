import { type CheckStatus, type InstanceHealth, worse } from './status.ts';

/**
 * Combines the checks of one instance into its health, as Consul's `AggregatedStatus` does:
 * maintenance (of the node or the service) wins, then critical, then warning; no checks is passing.
 * `statuses` holds the service's own checks and the node's checks, which apply to every service.
 */
export function aggregateHealth(statuses: Iterable<CheckStatus>, inMaintenance: boolean): InstanceHealth {
  if (inMaintenance) return 'maintenance';
  let health: CheckStatus = 'passing';
  for (const status of statuses) health = worse(health, status);
  return health;
}
