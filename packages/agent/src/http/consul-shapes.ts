import type { CheckDefinition } from '../services/definition.ts';
import { formatDuration } from '../services/duration.ts';
import { type Maintenance, NODE_MAINTENANCE_CHECK_ID, serviceMaintenanceCheckId } from '../services/maintenance.ts';
import { checkToBody } from '../services/registration.ts';
import type { CheckView, ServiceView } from '../services/registry.ts';

/** The registry's views in the JSON shapes of Consul's agent API, plus Vigil's Priority and Zone. */

/** Consul's names for check types (an exec check is a "script" check there). */
const CONSUL_TYPE: Record<CheckDefinition['type'], string> = {
  http: 'http',
  tcp: 'tcp',
  exec: 'script',
  ttl: 'ttl',
  grpc: 'grpc',
};

export function agentService(view: ServiceView, datacenter: string): Record<string, unknown> {
  const s = view.service;
  return {
    ID: s.id,
    Service: s.name,
    Tags: s.tags,
    Meta: s.meta,
    Port: s.port,
    Address: s.address,
    TaggedAddresses: {},
    Weights: { Passing: s.weights.passing, Warning: s.weights.warning },
    EnableTagOverride: false,
    Datacenter: datacenter,
    Priority: s.priority,
    Zone: s.zone,
    Policy: s.policy ?? 'active-passive',
  };
}

export interface CheckContext {
  readonly node: string;
  /** The service a check belongs to, for ServiceName and ServiceTags. */
  readonly service: (id: string) => ServiceView | undefined;
}

export function agentCheck(view: CheckView, ctx: CheckContext): Record<string, unknown> {
  const def = view.definition;
  const service = def.serviceId === undefined ? undefined : ctx.service(def.serviceId);
  return {
    Node: ctx.node,
    CheckID: def.id,
    Name: def.name,
    Status: view.status,
    Notes: def.notes,
    Output: view.output,
    ServiceID: def.serviceId ?? '',
    ServiceName: service?.service.name ?? '',
    ServiceTags: service?.service.tags ?? [],
    Type: CONSUL_TYPE[def.type],
    Interval: def.type === 'ttl' ? '' : formatDuration(def.intervalMs),
    Timeout: def.type === 'ttl' ? '' : formatDuration(def.timeoutMs),
    ExposedPort: 0,
    Definition: checkToBody(def),
  };
}

/** Maintenance as Consul shows it: a critical check with a reserved ID and the reason as Notes. */
export function maintenanceCheck(
  maintenance: Maintenance,
  node: string,
  service?: ServiceView,
): Record<string, unknown> {
  return {
    Node: node,
    CheckID: service ? serviceMaintenanceCheckId(service.service.id) : NODE_MAINTENANCE_CHECK_ID,
    Name: service ? 'Service Maintenance Mode' : 'Node Maintenance Mode',
    Status: 'critical',
    Notes: maintenance.reason,
    Output: '',
    ServiceID: service?.service.id ?? '',
    ServiceName: service?.service.name ?? '',
    ServiceTags: service?.service.tags ?? [],
    Type: 'maintenance',
    Interval: '',
    Timeout: '',
    ExposedPort: 0,
    Definition: {},
  };
}
