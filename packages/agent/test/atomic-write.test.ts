import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../src/data-dir/atomic-write.ts';
import { loadOrCreateIdentity } from '../src/data-dir/identity.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-atomic-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('replaces content whole and leaves no temporary files', async () => {
    const path = join(dir, 'sub', 'state.json');
    await writeFileAtomic(path, 'one');
    await writeFileAtomic(path, 'two');
    expect(await readFile(path, 'utf8')).toBe('two');
    expect(await readdir(join(dir, 'sub'))).toEqual(['state.json']);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('keeps the old content when the write fails', async () => {
    const path = join(dir, 'state.json');
    await writeFileAtomic(path, 'old');
    // A directory where the rename target's folder should be makes the write fail midway.
    await expect(writeFileAtomic(join(path, 'child'), 'x')).rejects.toThrow();
    expect(await readFile(path, 'utf8')).toBe('old');
  });
});

describe('node identity', () => {
  it('is created once and read back unchanged', async () => {
    const a = await loadOrCreateIdentity(dir);
    const b = await loadOrCreateIdentity(dir);
    expect(b.peerId.toString()).toBe(a.peerId.toString());
    expect(a.peerId.type).toBe('Ed25519');
  });
});
