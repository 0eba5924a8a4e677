import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir } from './ensure-dir.ts';
import { DATA_FILES } from './files.ts';

export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * An exclusive lock on a data directory: a file created with O_EXCL holding our pid. A lock left
 * by a crashed agent (its pid is gone) is taken over, so SIGKILL never needs manual cleanup.
 */
export class DataDirLock {
  readonly path: string;
  private constructor(path: string) {
    this.path = path;
  }

  static acquire(dataDir: string): DataDirLock {
    ensureDir(dataDir);
    const path = join(dataDir, DATA_FILES.lock);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        return new DataDirLock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
        throw new DataDirLockedError(
          `data dir ${dataDir} is in use by another agent (pid ${holder}, lock file ${path}); ` +
            'stop that agent or give this one its own --data-dir',
        );
      }
      rmSync(path, { force: true }); // stale: its owner is gone
    }
    throw new DataDirLockedError(`could not lock data dir ${dataDir}: lock file ${path} keeps reappearing`);
  }

  release(): void {
    rmSync(this.path, { force: true });
  }
}
