// What a node name and a node tag may be. One rule for every place they come from: `--node` and
// `--tag` in the configuration, and member names and tags arriving by gossip, which are counted
// and dropped when they break it. Names and tags end up in terminals, logs, metrics labels and
// file names, so the rule is narrow: no control characters, no unbounded lengths.

import { isIP } from 'node:net';
import { META_P2P_ADDR, META_PEER_ID, META_ZONE, type NodeTags } from './memberlist/node-meta.ts';

export const NODE_NAME_MAX_CHARS = 128;
export const TAG_KEY_MAX_CHARS = 64;
export const TAG_VALUE_MAX_CHARS = 256;

const NODE_NAME = /^[A-Za-z0-9._-]+$/;
const TAG_KEY = /^[A-Za-z0-9._-]+$/;
/**
 * C0, DEL and C1 controls, line separators and bidirectional overrides: what a terminal acts on
 * rather than shows. Not global (its `test` keeps no state); the CLI escapes with its source.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is its purpose
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/** Tags Vigil itself puts in node metadata; their keys hold a ':' that user tags may not. */
const RESERVED_TAGS: ReadonlySet<string> = new Set([META_PEER_ID, META_P2P_ADDR, META_ZONE]);

/** Why `name` is not a valid node name, or undefined when it is. */
export function nodeNameProblem(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  if (name.length > NODE_NAME_MAX_CHARS) return `must be at most ${NODE_NAME_MAX_CHARS} characters`;
  if (!NODE_NAME.test(name)) return 'may hold only letters, digits, ".", "_" and "-"';
  return undefined;
}

/** Why `key` is not a valid tag key for a user to set, or undefined when it is. */
export function tagKeyProblem(key: string): string | undefined {
  if (key.length === 0 || key.length > TAG_KEY_MAX_CHARS || !TAG_KEY.test(key)) {
    return `tag keys are 1-${TAG_KEY_MAX_CHARS} letters, digits, ".", "_" or "-"`;
  }
  return undefined;
}

/** Why `value` is not a valid tag value, or undefined when it is. */
export function tagValueProblem(value: string): string | undefined {
  if (value.length > TAG_VALUE_MAX_CHARS) return `tag values are at most ${TAG_VALUE_MAX_CHARS} characters`;
  if (CONTROL_CHARACTER.test(value)) return 'tag values may not hold control characters';
  return undefined;
}

/** Why a member's tags from gossip are not acceptable (user tags plus Vigil's reserved ones). */
export function nodeTagsProblem(tags: NodeTags): string | undefined {
  for (const [key, value] of Object.entries(tags)) {
    const problem = (RESERVED_TAGS.has(key) ? undefined : tagKeyProblem(key)) ?? tagValueProblem(value);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

// Service instances: the same rules for a registration on this agent (the HTTP API, the config
// file) and for an instance in another agent's catalog record, which is refused (and counted)
// when it breaks one. The record schema in the agent bounds sizes; these bound content.

export const SERVICE_NAME_MAX_CHARS = 128;
export const SERVICE_ID_MAX_CHARS = 256;
export const SERVICE_TAG_MAX_CHARS = 255;
export const SERVICE_TAGS_MAX = 64;
export const META_VALUE_MAX_CHARS = 512;
export const META_KEYS_MAX = 64;
export const ZONE_MAX_CHARS = 64;
export const ADDRESS_MAX_CHARS = 255;

const SERVICE_ID = /^[A-Za-z0-9._:@-]+$/;
const META_KEY = /^[A-Za-z0-9_-]{1,128}$/;
const ADDRESS = /^[^\s/]*$/;

/** Why `name` is not a valid service name, or undefined when it is. */
export function serviceNameProblem(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  if (name.length > SERVICE_NAME_MAX_CHARS) return `must be at most ${SERVICE_NAME_MAX_CHARS} characters`;
  if (!NODE_NAME.test(name)) return 'may hold only letters, digits, ".", "_" and "-"';
  if (shadowsLiteralHost(name)) {
    return 'names a host applications mean literally (localhost or an IP address): choose another name';
  }
  return undefined;
}

/**
 * Whether a service name reads as `localhost` or an IP address in a URL (`http://10.1/` and
 * `http://2130706433/` are IPv4 to URL parsers): the SDK never routes such hosts through the mesh,
 * so a service of that name could only confuse.
 */
export function shadowsLiteralHost(name: string): boolean {
  const lower = name.toLowerCase();
  if (lower === 'localhost' || lower.endsWith('.localhost')) return true;
  try {
    return isIP(new URL(`http://${name}`).hostname) !== 0;
  } catch {
    return false;
  }
}

/** Why `id` is not a valid service instance id (or check id), or undefined when it is. */
export function serviceIdProblem(id: string): string | undefined {
  if (id === '') return 'must not be empty';
  if (id.length > SERVICE_ID_MAX_CHARS) return `must be at most ${SERVICE_ID_MAX_CHARS} characters`;
  if (!SERVICE_ID.test(id)) return 'may hold only letters, digits, ".", "_", ":", "@" and "-"';
  return undefined;
}

/** Why `tag` is not a valid service tag, or undefined when it is. */
export function serviceTagProblem(tag: string): string | undefined {
  if (tag === '') return 'must not be empty';
  if (tag.length > SERVICE_TAG_MAX_CHARS) return `must be at most ${SERVICE_TAG_MAX_CHARS} characters`;
  return undefined;
}

/** Why `key` is not a valid service meta key, or undefined when it is. */
export function metaKeyProblem(key: string): string | undefined {
  if (!META_KEY.test(key)) return 'keys are 1-128 letters, digits, "_" or "-"';
  if (key.startsWith('consul-')) return 'keys may not start with "consul-" (reserved)';
  return undefined;
}

/** Why `value` is not a valid service meta value, or undefined when it is. */
export function metaValueProblem(value: string): string | undefined {
  if (value.length > META_VALUE_MAX_CHARS) return `values must be at most ${META_VALUE_MAX_CHARS} characters`;
  return undefined;
}

/** Why `zone` is not a valid zone (a service's, or the agent's `--zone`), or undefined when it is. */
export function zoneProblem(zone: string): string | undefined {
  if (zone === '') return 'must not be empty';
  if (zone.length > ZONE_MAX_CHARS) return `must be at most ${ZONE_MAX_CHARS} characters`;
  return tagValueProblem(zone);
}

/** Why `address` is not a valid service address, or undefined when it is. */
export function addressProblem(address: string): string | undefined {
  if (address.length > ADDRESS_MAX_CHARS) return `must be at most ${ADDRESS_MAX_CHARS} characters`;
  if (!ADDRESS.test(address)) return 'must be a host name or IP address';
  return undefined;
}

/** The parts of a service instance these rules cover (a registration or a catalog record's). */
export interface InstanceNames {
  readonly id: string;
  readonly service: string;
  readonly address: string;
  readonly tags: readonly string[];
  readonly meta: Readonly<Record<string, string>>;
  readonly zone: string;
}

/** Why an instance from another agent's record breaks the rules above ("field: problem"), or undefined. */
export function instanceNamesProblem(instance: InstanceNames): string | undefined {
  const field = (name: string, problem: string | undefined) =>
    problem === undefined ? undefined : `${name}: ${problem}`;
  const tags = instance.tags.length > SERVICE_TAGS_MAX ? `must hold at most ${SERVICE_TAGS_MAX} tags` : undefined;
  const metaKeys = Object.keys(instance.meta);
  const metaCount = metaKeys.length > META_KEYS_MAX ? `must hold at most ${META_KEYS_MAX} keys` : undefined;
  return (
    field('service', serviceNameProblem(instance.service)) ??
    field('id', serviceIdProblem(instance.id)) ??
    field('address', addressProblem(instance.address)) ??
    field('zone', zoneProblem(instance.zone)) ??
    field('tags', tags) ??
    instance.tags.map((t, i) => field(`tags[${i}]`, serviceTagProblem(t))).find((p) => p !== undefined) ??
    field('meta', metaCount) ??
    metaKeys
      .map((k) => field(`meta.${k.slice(0, 64)}`, metaKeyProblem(k) ?? metaValueProblem(instance.meta[k] ?? '')))
      .find((p) => p !== undefined)
  );
}
