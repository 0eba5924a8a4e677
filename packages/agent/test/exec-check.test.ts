import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runExecCheck } from '../src/health/exec-check.ts';
import type { ExecCheckSpec } from '../src/services/definition.ts';
import { pollingCheckOf, probeCtx } from './helpers/checks.ts';
import { waitFor } from './helpers/wait.ts';

const exec = (args: string[]) =>
  pollingCheckOf({ Args: args, Interval: '1s' }) as ExecCheckSpec & ReturnType<typeof pollingCheckOf>;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-exec-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('exec check', () => {
  it('maps exit 0 to passing, 1 to warning and anything else to critical, with the output', async () => {
    expect(await runExecCheck(exec(['sh', '-c', 'echo fine; exit 0']), probeCtx())).toEqual({
      status: 'passing',
      output: 'fine\n',
    });
    expect(await runExecCheck(exec(['sh', '-c', 'echo slow >&2; exit 1']), probeCtx())).toEqual({
      status: 'warning',
      output: 'slow\n',
    });
    expect((await runExecCheck(exec(['sh', '-c', 'exit 2']), probeCtx())).status).toBe('critical');
    expect((await runExecCheck(exec(['sh', '-c', 'kill -9 $$']), probeCtx())).output).toContain('killed by SIGKILL');
  });

  it("does not hand the agent's secrets to the script", async () => {
    process.env.VIGIL_ACL_TOKEN = 'secret-token';
    try {
      const result = await runExecCheck(exec(['sh', '-c', 'echo "[$VIGIL_ACL_TOKEN]"']), probeCtx());
      expect(result.output).toBe('[]\n');
    } finally {
      delete process.env.VIGIL_ACL_TOKEN;
    }
  });

  it('is critical when the command cannot run', async () => {
    const result = await runExecCheck(exec(['/no/such/command']), probeCtx());
    expect(result.status).toBe('critical');
    expect(result.output).toMatch(/ENOENT/);
  });

  it('keeps only the last OutputMaxSize bytes of the output', async () => {
    const result = await runExecCheck(
      exec(['sh', '-c', 'i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done']),
      probeCtx(5000, 100),
    );
    expect(result.status).toBe('passing');
    expect(result.output).toMatch(/^Captured 100 of \d+ bytes\n/);
    expect(result.output.endsWith('line1999\n')).toBe(true);
    expect(result.output).not.toContain('line0\n');
  });

  it('kills the whole process group when aborted (timeout or stop)', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    const controller = new AbortController();
    const run = runExecCheck(exec(['sh', '-c', `sleep 60 & echo $! > ${pidFile}; wait`]), {
      signal: controller.signal,
      outputMaxSize: 4096,
    });
    const grandchild = await waitFor(async () => {
      const text = await readFile(pidFile, 'utf8').catch(() => '');
      return text.trim() ? Number(text.trim()) : undefined;
    }, 'the script to start its child');
    expect(alive(grandchild)).toBe(true);
    controller.abort(new Error('check timed out'));
    expect((await run).status).toBe('critical');
    await waitFor(() => !alive(grandchild), 'the grandchild to be killed');
  });
});
