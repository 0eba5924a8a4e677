import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { Address } from '../membership/address.ts';
import { writeFileAtomic } from './atomic-write.ts';

const snapshotSchema = z.object({
  version: z.literal(1),
  members: z.array(z.object({ name: z.string(), host: z.string(), port: z.number().int().min(1).max(65535) })),
});

export interface SnapshotMember extends Address {
  readonly name: string;
}

/** What the data dir's snapshot held, and why it could not be used if it could not (for the log). */
export interface SnapshotRead {
  readonly members: SnapshotMember[];
  /** Set when a snapshot exists but is unusable: truncated, not JSON, or of another shape. */
  readonly problem: string | undefined;
}

/**
 * The members last seen alive, so a restarted agent rejoins without a seed (Serf's snapshot).
 * Unlike Serf's append-only log it is a small JSON file rewritten atomically: clusters here are
 * hundreds of members, not tens of thousands.
 */
export async function readSnapshot(path: string): Promise<SnapshotRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { members: [], problem: undefined };
    return { members: [], problem: `cannot read ${path}: ${(err as Error).message}` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { members: [], problem: `${path} is truncated or not JSON (${text.length} bytes): ignoring it` };
  }
  const parsed = snapshotSchema.safeParse(value);
  if (!parsed.success) return { members: [], problem: `${path} is not a member snapshot: ignoring it` };
  return { members: parsed.data.members, problem: undefined };
}

/**
 * Writes the members seen alive, unless that would replace a useful snapshot with a worse one: an
 * empty list never overwrites a snapshot that names members. An agent alone (it could not join,
 * with a wrong key say) has learned nothing about the cluster, and writing its empty view would
 * make the next restart come up alone too. Resolves to whether the file was written.
 */
export async function writeSnapshot(path: string, members: readonly SnapshotMember[]): Promise<boolean> {
  if (members.length === 0 && (await readSnapshot(path)).members.length > 0) return false;
  const body = { version: 1, members: members.map(({ name, host, port }) => ({ name, host, port })) };
  await writeFileAtomic(path, `${JSON.stringify(body)}\n`);
  return true;
}

/** The loud line for an agent that knew of other members and reached none of them. */
export function aloneWarning(known: number): string {
  return (
    `this agent is ALONE: it knew ${known} member(s) (members.json and --join) and reached none; ` +
    'it keeps retrying. Check the gossip key (--encrypt / local.keyring) and the network'
  );
}
