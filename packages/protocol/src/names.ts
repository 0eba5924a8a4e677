// What a node name and a node tag may be. One rule for every place they come from: `--node` and
// `--tag` in the configuration, and member names and tags arriving by gossip, which are counted
// and dropped when they break it. Names and tags end up in terminals, logs, metrics labels and
// file names, so the rule is narrow: no control characters, no unbounded lengths.

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
