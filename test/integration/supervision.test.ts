/**
 * Process supervision: signals to the process a supervisor started, and SIGHUP.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, disposeAllAgents } from './harness/agent-process.ts';
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

describe('SIGHUP', () => {
  it('reloads services, checks, tags and the log level, and refuses a bad configuration', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigil-reload-'));
    const file = join(dir, 'agent.json');
    const write = (config: Record<string, unknown>) => writeFile(file, JSON.stringify(config));
    try {
      await write({
        tags: { team: 'a' },
        log_level: 'info',
        services: [{ Name: 'web', Port: 80, Check: { TTL: '30s' } }],
      });
      const agent = await AgentProcess.start({ node: 'hup', extraArgs: ['--config', file] });
      const services = async () => Object.keys((await agent.get<Record<string, unknown>>('/v1/agent/services')).body);
      const checks = async () => Object.keys((await agent.get<Record<string, unknown>>('/v1/agent/checks')).body);
      const self = async () =>
        (await agent.get<{ Vigil: { config: { logLevel: string; zone: string } } }>('/v1/agent/self')).body.Vigil
          .config;
      const tags = async () =>
        (await agent.get<{ name: string; tags: Record<string, string> }[]>('/v1/members')).body.find(
          (m) => m.name === 'hup',
        )?.tags;
      expect(await services()).toEqual(['web']);
      expect((await tags())?.team).toBe('a');

      await write({
        tags: { team: 'b' },
        log_level: 'debug',
        zone: 'elsewhere',
        services: [{ Name: 'api', Port: 81, Check: { CheckID: 'api-ttl', TTL: '30s' } }],
      });
      agent.child.kill('SIGHUP');
      await waitFor('the reload', () => /configuration reloaded/.test(agent.logs), 20_000);
      expect(await services()).toEqual(['api']);
      expect(await checks()).toEqual(['api-ttl']);
      expect((await tags())?.team).toBe('b');
      expect(await self()).toMatchObject({ logLevel: 'debug', zone: 'default' });
      expect(agent.logs).toMatch(/changes to zone take effect at the next start/);

      // A bad configuration changes nothing, and the agent runs on.
      await write({ tags: { team: 'c' }, services: [{ Name: 'x', Port: 70000 }] });
      agent.child.kill('SIGHUP');
      await waitFor('the refusal', () => /reload refused/.test(agent.logs), 20_000);
      expect(agent.logs).toMatch(/agent\.json: services\.0 Port: must be between 1 and 65535/);
      expect(await services()).toEqual(['api']);
      expect((await tags())?.team).toBe('b');
      expect((await agent.get('/healthz')).status).toBe(200);
      expect(await agent.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
