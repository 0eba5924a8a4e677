import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The bin re-executes Node (process.execve, same PID) to add the agent's V8 flags and environment
// (MALLOC_ARENA_MAX, read by glibc at start) unless they are already in effect; the systemd unit
// gives them on its ExecStart and Environment= lines to save that second start. Each Node start is
// observed for real: a preload module (NODE_OPTIONS --import, which survives the execve) appends
// the execArgv and MALLOC_ARENA_MAX of the process it runs in to a file, one line per start.

const exec = promisify(execFile);
const BIN = fileURLToPath(new URL('../bin/vigil.js', import.meta.url));
const UNIT = fileURLToPath(new URL('../../../packaging/deb/vigil.service', import.meta.url));

let work: string;
let preload: string;
/** The flags the bin adds when none are given: what the second start has and the first lacks. */
let flags: string[];
/** Likewise the environment: what the bin sets when the variables are unset. */
let agentEnv: Record<string, string>;

interface Start {
  flags: string[];
  arenaMax: string | null;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vigil-bin-flags-'));
  preload = join(work, 'record-start.mjs');
  await writeFile(
    preload,
    "import { appendFileSync } from 'node:fs';\n" +
      'appendFileSync(process.env.VIGIL_TEST_STARTS, JSON.stringify({ flags: process.execArgv, ' +
      "arenaMax: process.env.MALLOC_ARENA_MAX ?? null }) + '\\n');\n",
  );
  const seen = await startsWith([], '', {});
  expect(seen).toHaveLength(2);
  expect(seen[0]).toEqual({ flags: [], arenaMax: null });
  flags = seen[1]!.flags;
  expect(seen[1]!.arenaMax).not.toBeNull();
  agentEnv = { MALLOC_ARENA_MAX: seen[1]!.arenaMax! };
}, 60_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/**
 * Runs `node <nodeFlags> bin agent --help` with `env` added to this process's environment (without
 * its MALLOC_ARENA_MAX); returns the flags and MALLOC_ARENA_MAX of every Node start, in order.
 */
async function startsWith(nodeFlags: string[], nodeOptions: string, env: Record<string, string>): Promise<Start[]> {
  const record = join(work, `starts-${Math.random().toString(36).slice(2)}`);
  await writeFile(record, '');
  const { MALLOC_ARENA_MAX: _, ...inherited } = process.env;
  const { stdout } = await exec(process.execPath, [...nodeFlags, BIN, 'agent', '--help'], {
    env: { ...inherited, ...env, VIGIL_TEST_STARTS: record, NODE_OPTIONS: `--import=${preload} ${nodeOptions}` },
    timeout: 60_000,
  });
  expect(stdout).toMatch(/^Usage: vigil agent/);
  return (await readFile(record, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Start);
}

/** The execArgv of every Node start when the agent's environment is already set. */
async function starts(nodeFlags: string[], nodeOptions = ''): Promise<string[][]> {
  const seen = await startsWith(nodeFlags, nodeOptions, agentEnv);
  for (const start of seen) expect(start.arenaMax).toBe(agentEnv.MALLOC_ARENA_MAX);
  return seen.map((start) => start.flags);
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

  it('re-executes Node once to set the environment when only that is missing, keeping the flags', async () => {
    expect(await startsWith(flags, '', {})).toEqual([
      { flags, arenaMax: null },
      { flags, arenaMax: agentEnv.MALLOC_ARENA_MAX },
    ]);
  });

  it('leaves a variable already set alone', async () => {
    expect(await startsWith(flags, '', { MALLOC_ARENA_MAX: '4' })).toEqual([{ flags, arenaMax: '4' }]);
  });

  it('is not re-executed under the systemd unit: its ExecStart and Environment= give exactly the agent flags and environment', async () => {
    const unit = await readFile(UNIT, 'utf8');
    const unitEnv = Object.fromEntries(
      [...unit.matchAll(/^Environment=(\w+)=(.*)$/gm)]
        .map(([, name, value]) => [name!, value!])
        .filter(([name]) => name !== 'NODE_COMPILE_CACHE'),
    );
    expect(unitEnv).toEqual(agentEnv);
    const execStart = /^ExecStart=(\S+) (.*)$/m.exec(unit);
    expect(execStart?.[1]).toBe('/usr/lib/vigil/bin/node');
    const words = execStart![2]!.split(/\s+/);
    const unitFlags = words.slice(
      0,
      words.findIndex((w) => w.endsWith('/bin/vigil.js')),
    );
    expect(unitFlags).toEqual(flags);
    expect(await startsWith(unitFlags, '', unitEnv)).toEqual([
      { flags: unitFlags, arenaMax: unitEnv.MALLOC_ARENA_MAX },
    ]);
  });
});
