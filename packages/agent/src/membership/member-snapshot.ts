import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../data-dir/atomic-write.ts';
import type { Address } from './address.ts';

export const SNAPSHOT_FILE = 'members.json';

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
export async function readSnapshot(dataDir: string): Promise<SnapshotMember[]> {
  try {
    const parsed = snapshotSchema.safeParse(JSON.parse(await readFile(join(dataDir, SNAPSHOT_FILE), 'utf8')));
    return parsed.success ? parsed.data.members : [];
  } catch {
    return []; // no snapshot yet, or unreadable: start without one
  }
}

export function writeSnapshot(dataDir: string, members: readonly SnapshotMember[]): Promise<void> {
  const body = { version: 1, members: members.map(({ name, host, port }) => ({ name, host, port })) };
  return writeFileAtomic(join(dataDir, SNAPSHOT_FILE), `${JSON.stringify(body)}\n`);
}
