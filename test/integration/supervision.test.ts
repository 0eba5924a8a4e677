/**
 * Process supervision: signals to the process a supervisor started, and SIGHUP.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { disposeAllAgents } from './harness/agent-process.ts';
import { processAlive } from './harness/process-alive.ts';
import { waitFor } from './harness/wait-for.ts';

afterEach(disposeAllAgents);

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const alive = processAlive;

describe('npx vigil agent', () => {
  it('stops the agent gracefully when the npx process gets SIGTERM', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'vigil-npx-'));
    // npx runs `sh -c vigil ...`, which runs the agent: the agent is npx's grandchild.
    const npx = spawn(
      'npx',
      ['vigil', 'agent', '--node', 'npx', '--bind', '127.0.0.1:0', '--http', '127.0.0.1:0', '--p2p', '127.0.0.1:0'],
      {
        cwd: ROOT,
        env: { ...process.env, VIGIL_DATA_DIR: dataDir, VIGIL_LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let logs = '';
    npx.stdout.on('data', (d) => {
      logs += d;
    });
    npx.stderr.on('data', (d) => {
      logs += d;
    });
    let agentPid: number | undefined;
    try {
      agentPid = await waitFor(
        'the agent to start under npx',
        () => {
          const started = logs.split('\n').find((l) => l.includes('"msg":"agent started"'));
          return started ? (JSON.parse(started) as { pid: number }).pid : undefined;
        },
        60_000,
      );
      expect(agentPid).not.toBe(npx.pid);
      npx.kill('SIGTERM');
      // Before: npm and its shell exited and the agent ran on as an orphan.
      await waitFor('the agent to exit', () => !alive(agentPid!), 30_000);
      expect(logs).toMatch(/launched the agent is gone/);
      expect(logs).toMatch(/"msg":"agent stopped"/);
    } finally {
      if (agentPid !== undefined && alive(agentPid)) process.kill(agentPid, 'SIGKILL');
      npx.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
