import { ApiError } from './api-error.ts';
import type { CheckContext } from './consul-shapes.ts';
import type { ServiceReader, ServiceWriter } from './planes.ts';

export interface ServiceRoutesOptions {
  readonly registry: ServiceReader & ServiceWriter;
  readonly node: string;
  readonly datacenter: string;
  /** When set, write requests must carry it (see acl-token.ts). */
  readonly aclToken?: string | undefined;
}

/** Consul's strconv.ParseBool spellings, for `?enable=`. */
export function parseBoolParam(name: string, value: unknown): boolean {
  if (value === undefined || value === '') throw new ApiError(400, `${name}: is required (true or false)`);
  const text = String(value);
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(text)) return false;
  throw new ApiError(400, `${name}: "${text}" is not true or false`);
}

export function noFilter(query: unknown): void {
  if ((query as Record<string, unknown>).filter !== undefined) {
    throw new ApiError(400, 'filter: filter expressions are not supported by Vigil');
  }
}

export function checkContext(opts: ServiceRoutesOptions): CheckContext {
  return { node: opts.node, service: (id) => opts.registry.getService(id) };
}
