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

/**
 * The members last seen alive, so a restarted agent rejoins without a seed (Serf's snapshot).
 * Unlike Serf's append-only log it is a small JSON file rewritten atomically: clusters here are
 * hundreds of members, not tens of thousands.
 */
export async function readSnapshot(path: string): Promise<SnapshotMember[]> {
  try {
    const parsed = snapshotSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return parsed.success ? parsed.data.members : [];
  } catch {
    return []; // no snapshot yet, or unreadable: start without one
  }
}

export function writeSnapshot(path: string, members: readonly SnapshotMember[]): Promise<void> {
  const body = { version: 1, members: members.map(({ name, host, port }) => ({ name, host, port })) };
  return writeFileAtomic(path, `${JSON.stringify(body)}\n`);
}
