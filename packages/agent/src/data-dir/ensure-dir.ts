import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export class DataDirError extends Error {
  override readonly name = 'DataDirError';
}

/**
 * Creates `dir` and its missing parents, as `mkdirSync(dir, { recursive: true })` would. That call
 * loops for ever on a path under /proc (mkdir there fails with ENOENT although the parent exists,
 * and Node's recursive mkdir retries the parent), spinning the agent at 100 % CPU. This walk is
 * bounded by the path's depth and fails with a message naming the directory.
 */
export function ensureDir(dir: string, mode = 0o700): void {
  try {
    mkdirSync(dir, { mode });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (!statSync(dir).isDirectory()) throw new DataDirError(`${dir} exists and is not a directory`);
      return;
    }
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw new DataDirError(`cannot create ${dir}: ${(err as Error).message}`);
    ensureDir(parent, mode);
  }
  try {
    mkdirSync(dir, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statSync(dir).isDirectory()) return;
    throw new DataDirError(`cannot create ${dir}: ${(err as Error).message}`);
  }
}
