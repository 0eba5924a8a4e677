/**
 * Maintenance (drain): the node or one service is taken out of routing, with a reason. As in
 * Consul, it shows up as a critical check with a reserved ID, and health aggregation turns it into
 * `maintenance`, which routing treats as gone.
 */

export interface Maintenance {
  readonly reason: string;
  /** Epoch milliseconds. */
  readonly since: number;
}

export const NODE_MAINTENANCE_CHECK_ID = '_node_maintenance';
export const SERVICE_MAINTENANCE_CHECK_PREFIX = '_service_maintenance:';

export const serviceMaintenanceCheckId = (serviceId: string) => `${SERVICE_MAINTENANCE_CHECK_PREFIX}${serviceId}`;

/** Consul's messages when no reason is given. */
export const DEFAULT_NODE_MAINTENANCE_REASON =
  'Maintenance mode is enabled for this node, but no reason was provided. This is a default message.';
export const DEFAULT_SERVICE_MAINTENANCE_REASON =
  'Maintenance mode is enabled for this service, but no reason was provided. This is a default message.';

/** True for the reserved IDs, which no registered check may take. */
export function isMaintenanceCheckId(id: string): boolean {
  return id === NODE_MAINTENANCE_CHECK_ID || id.startsWith(SERVICE_MAINTENANCE_CHECK_PREFIX);
}
