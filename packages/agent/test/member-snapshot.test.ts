// Silent isolation: an agent that could not join (a wrong key) must not rewrite members.json to
// an empty list, must say loudly that it is alone, and a truncated snapshot is reported, not
// silently ignored. Real MembershipService on 127.0.0.1 UDP/TCP, two gossip keys.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DATA_FILES } from '../src/data-dir/files.ts';
import { readSnapshot as readFileSnapshot, writeSnapshot as writeFileSnapshot } from '../src/data-dir/members-file.ts';
import { MembershipService } from '../src/membership/membership-service.ts';
import { PROFILES } from '../src/membership/profiles.ts';

const SNAPSHOT_FILE = DATA_FILES.members;
const readSnapshot = (dir: string) => readFileSnapshot(join(dir, SNAPSHOT_FILE));
const writeSnapshot = (dir: string, members: Parameters<typeof writeFileSnapshot>[1]) =>
  writeFileSnapshot(join(dir, SNAPSHOT_FILE), members);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-snapshot-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A logger whose lines the test reads. */
function capture() {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

describe('member snapshot', () => {
  it('never replaces a snapshot that names members with an empty one', async () => {
    const dir = await tempDir();
    const b = { name: 'b', host: '127.0.0.1', port: 7946 };
    expect(await writeSnapshot(dir, [b])).toBe(true);
    expect(await writeSnapshot(dir, [])).toBe(false);
    expect((await readSnapshot(dir)).members).toEqual([b]);
    const fresh = await tempDir();
    expect(await writeSnapshot(fresh, [])).toBe(true);
  });

  it('reports a truncated snapshot instead of ignoring it silently', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, SNAPSHOT_FILE), '{"version":1,"members":[{"name":"b","ho');
    const read = await readSnapshot(dir);
    expect(read.members).toEqual([]);
    expect(read.problem).toMatch(/truncated or not JSON/);
    expect((await readSnapshot(await tempDir())).problem).toBeUndefined();
  });

  it('keeps the snapshot and says ALONE when a start cannot join with a wrong key', async () => {
    const bDir = await tempDir();
    const b = await MembershipService.start({
      name: 'b',
      bind: { host: '127.0.0.1', port: 0 },
      meta: new Uint8Array(),
      profile: PROFILES.local,
      keys: [new Uint8Array(32).fill(2)],
      dataDir: bDir,
      log: pino({ level: 'silent' }),
    });
    cleanups.push(() => b.stop());
    const bAddr = b.member('b')!.addr;
    const aDir = await tempDir();
    await writeSnapshot(aDir, [{ name: 'b', host: bAddr.host, port: bAddr.port }]);
    const { log, lines } = capture();
    const a = await MembershipService.start({
      name: 'a',
      bind: { host: '127.0.0.1', port: 0 },
      meta: new Uint8Array(),
      profile: PROFILES.local,
      keys: [new Uint8Array(32).fill(1)], // not b's key
      dataDir: aDir,
      log,
    });
    const result = await a.startupJoin([]);
    expect(result.joined).toBe(0);
    // A graceful stop (SIGTERM) leaves first: our own `left` is an event, so the snapshot is written.
    await a.leave();
    await a.stop();
    expect((await readSnapshot(aDir)).members.map((m) => m.name)).toEqual(['b']);
    expect(JSON.parse(await readFile(join(aDir, SNAPSHOT_FILE), 'utf8')).members).toHaveLength(1);
    const alone = lines.find((l) => /ALONE/.test(l.msg));
    expect(alone?.level).toBe(50); // error
    expect(alone?.msg).toContain('knew 1 member(s)');
  });
});
