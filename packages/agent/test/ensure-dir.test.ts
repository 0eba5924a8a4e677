import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureDir } from '../src/data-dir/ensure-dir.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('ensureDir', () => {
  it('creates missing parents, private, and accepts an existing directory', async () => {
    const base = await mkdtemp(join(tmpdir(), 'vigil-ensure-'));
    dirs.push(base);
    const deep = join(base, 'a', 'b', 'c');
    ensureDir(deep);
    ensureDir(deep);
    const info = await stat(deep);
    expect(info.isDirectory()).toBe(true);
    expect(info.mode & 0o777).toBe(0o700);
  });

  it('fails, naming the directory, where mkdir cannot succeed', async () => {
    const base = await mkdtemp(join(tmpdir(), 'vigil-ensure-'));
    dirs.push(base);
    await writeFile(join(base, 'file'), 'x');
    expect(() => ensureDir(join(base, 'file'))).toThrow(/exists and is not a directory/);
    expect(() => ensureDir(join(base, 'file', 'x'))).toThrow(/cannot create .*file\/x: ENOTDIR/);
    // mkdir under /proc fails with ENOENT although /proc exists: Node's recursive mkdir spins here.
    expect(() => ensureDir('/proc/vigil-x/y')).toThrow(/cannot create \/proc\/vigil-x: ENOENT/);
  });
});
