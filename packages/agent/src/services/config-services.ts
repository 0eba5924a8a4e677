import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Registration } from './definition.ts';
import { DefinitionError, type ParseOptions, parseServiceRegistration } from './registration.ts';

/**
 * Services from configuration: the config file's `services` list, and `services_dir`, a folder of
 * JSON files. Each entry uses the same shape as `PUT /v1/agent/service/register`.
 */

/**
 * The definitions a JSON document holds: one definition, `{"service": {...}}` or
 * `{"services": [...]}` as in Consul's config files, or a list. `vigil services register FILE`
 * reads the same shapes.
 */
export function definitionsIn(document: unknown): { items: unknown[]; path: (i: number) => string } {
  if (Array.isArray(document)) return { items: document, path: (i) => `[${i}].` };
  if (typeof document === 'object' && document !== null) {
    const keys = Object.keys(document);
    const only = keys.length === 1 ? keys[0]!.toLowerCase() : undefined;
    const value = (document as Record<string, unknown>)[keys[0] ?? ''];
    if (only === 'services' && Array.isArray(value)) return { items: value, path: (i) => `services[${i}].` };
    if (only === 'service') return { items: [value], path: () => 'service.' };
  }
  return { items: [document], path: () => '' };
}

/** The zod schema of the config file's `services` field: parsed with the API's rules. */
export const configServicesSchema = z
  .array(z.unknown(), { error: 'must be a list of service definitions' })
  .transform((items, ctx): Registration[] => {
    const out: Registration[] = [];
    items.forEach((item, i) => {
      try {
        out.push(parseServiceRegistration(item));
      } catch (err) {
        if (!(err instanceof DefinitionError)) throw err;
        for (const problem of err.problems) ctx.addIssue({ code: 'custom', path: [i], message: problem });
      }
    });
    return out;
  });

/** Reads every `*.json` file of `services_dir`, in name order. Throws DefinitionError naming the file and field. */
export function readServicesDir(dir: string, opts: ParseOptions = {}): Registration[] {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith('.json'))
      .sort();
  } catch (err) {
    throw new DefinitionError([`services_dir: cannot read ${dir}: ${(err as Error).message}`]);
  }
  const registrations: Registration[] = [];
  const problems: string[] = [];
  for (const name of names) {
    const file = join(dir, name);
    let document: unknown;
    try {
      document = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      problems.push(`${file}: ${(err as Error).message}`);
      continue;
    }
    const { items, path } = definitionsIn(document);
    items.forEach((item, i) => {
      try {
        registrations.push(parseServiceRegistration(item, { ...opts, context: `${file}: ${path(i)}` }));
      } catch (err) {
        if (!(err instanceof DefinitionError)) throw err;
        problems.push(...err.problems);
      }
    });
  }
  if (problems.length > 0) throw new DefinitionError(problems);
  return registrations;
}

/** Config list first, then the folder; an ID given twice is a mistake worth stopping for. */
export function mergeConfiguredServices(...lists: readonly Registration[][]): Registration[] {
  const seen = new Set<string>();
  const out: Registration[] = [];
  for (const registration of lists.flat()) {
    if (seen.has(registration.service.id)) {
      throw new DefinitionError([`service ID "${registration.service.id}" is defined twice in the configuration`]);
    }
    seen.add(registration.service.id);
    out.push(registration);
  }
  return out;
}
