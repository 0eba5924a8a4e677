import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The bin re-executes Node (process.execve, same PID) to add the agent's V8 flags unless they are
// already in effect; the systemd unit gives them on its ExecStart line to save that second start.
// Each Node start is observed for real: a preload module (NODE_OPTIONS --import, which survives the
// execve) appends the execArgv of the process it runs in to a file, one line per start.

const exec = promisify(execFile);
const BIN = fileURLToPath(new URL('../bin/vigil.js', import.meta.url));
const UNIT = fileURLToPath(new URL('../../../packaging/deb/vigil.service', import.meta.url));

let work: string;
let preload: string;
/** The flags the bin adds when none are given: what the second start has and the first lacks. */
let flags: string[];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vigil-bin-flags-'));
  preload = join(work, 'record-start.mjs');
  await writeFile(
    preload,
    "import { appendFileSync } from 'node:fs';\n" +
      "appendFileSync(process.env.VIGIL_TEST_STARTS, JSON.stringify(process.execArgv) + '\\n');\n",
  );
  const seen = await starts([]);
  expect(seen).toHaveLength(2);
  expect(seen[0]).toEqual([]);
  flags = seen[1]!;
}, 60_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Runs `node <nodeFlags> bin agent --help`; returns the execArgv of every Node start, in order. */
async function starts(nodeFlags: string[], nodeOptions = ''): Promise<string[][]> {
  const record = join(work, `starts-${Math.random().toString(36).slice(2)}`);
  await writeFile(record, '');
  const { stdout } = await exec(process.execPath, [...nodeFlags, BIN, 'agent', '--help'], {
    env: { ...process.env, VIGIL_TEST_STARTS: record, NODE_OPTIONS: `--import=${preload} ${nodeOptions}` },
    timeout: 60_000,
  });
  expect(stdout).toMatch(/^Usage: vigil agent/);
  return (await readFile(record, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as string[]);
}

// Each case starts the agent's CLI from its TypeScript sources: seconds on a loaded host.
describe('bin/vigil.js agent flags', { timeout: 60_000 }, () => {
  it('re-executes Node once with the agent flags when none are given', async () => {
    expect(flags.length).toBeGreaterThan(0);
    for (const flag of flags) expect(flag).toMatch(/^--[a-z-]+(=\S+)?$/);
  });

  it('starts Node once when the flags are on its command line, in either spelling', async () => {
    expect(await starts(flags)).toEqual([flags]);
    const underscored = flags.map((f) =>
      f.replace(/^--([^=]+)/, (_, name: string) => `--${name.replaceAll('-', '_')}`),
    );
    expect(underscored).not.toEqual(flags);
    expect(await starts(underscored)).toEqual([underscored]);
  });

  it('starts Node once when the flags come through NODE_OPTIONS, or partly', async () => {
    // Node refuses some V8 flags in NODE_OPTIONS (--min-semi-space-size, say): those would stay on
    // the command line, so one source or both must do.
    expect(await starts([], flags.join(' '))).toEqual([[]]);
    const [first, ...rest] = flags;
    expect(await starts(rest, first)).toEqual([rest]);
  });

  it('adds only the flags missing: another value of a given flag wins', async () => {
    const other = flags.map((f) => `${f.split('=')[0]}=8`);
    expect(await starts(other)).toEqual([other]);
  });

  it('is not re-executed under the systemd unit: its ExecStart gives exactly the agent flags', async () => {
    const unit = await readFile(UNIT, 'utf8');
    const execStart = /^ExecStart=(\S+) (.*)$/m.exec(unit);
    expect(execStart?.[1]).toBe('/usr/lib/vigil/bin/node');
    const words = execStart![2]!.split(/\s+/);
    const unitFlags = words.slice(
      0,
      words.findIndex((w) => w.endsWith('/bin/vigil.js')),
    );
    expect(unitFlags).toEqual(flags);
    expect(await starts(unitFlags)).toEqual([unitFlags]);
  });
});
