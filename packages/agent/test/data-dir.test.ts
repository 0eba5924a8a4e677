// The data directory object: one table of file names, and the operations on the agent's files.

import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DATA_FILES, DataDir } from '../src/data-dir/data-dir.ts';
import { ServiceRegistry } from '../src/services/registry.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('DataDir', () => {
  it('locks, keeps the identity and the keyring, and names every file from one table', async () => {
    const path = await mkdtemp(join(tmpdir(), 'vigil-datadir-'));
    dirs.push(path);
    const dir = new DataDir(join(path, 'agent'));
    const lock = dir.lock();
    expect(() => new DataDir(dir.path).lock()).not.toThrow(); // our own pid: re-entrant
    const first = await dir.identity();
    expect((await dir.identity()).peerId.toString()).toBe(first.peerId.toString());
    expect(await dir.readKeyring()).toBeUndefined();
    const key = new Uint8Array(32).fill(3);
    await dir.writeKeyring([key]);
    expect(await dir.readKeyring()).toEqual([key]);

    const registry = await ServiceRegistry.open({ dataDir: dir, node: 'n', zone: 'z', log: pino({ level: 'silent' }) });
    await registry.applyConfig([]);
    await registry.stop();
    const names = (await readdir(dir.path)).sort();
    expect(names).toEqual(
      [DATA_FILES.lock, DATA_FILES.identity, DATA_FILES.keyring, DATA_FILES.services, DATA_FILES.checkState].sort(),
    );
    expect(dir.file('members')).toBe(join(dir.path, 'members.json'));
    lock.release();
    expect(await readdir(dir.path)).not.toContain(DATA_FILES.lock);
  });
});
