import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, disposeAllAgents, runVigil } from './harness/agent-process.ts';

afterEach(disposeAllAgents);

interface Self {
  Config: { NodeName: string; NodeID: string; Datacenter: string };
  Vigil: { peerId: string; version: string; uptimeSeconds: number; config: Record<string, unknown> };
}

describe('vigil agent process', () => {
  it('serves /healthz, stops on SIGTERM with exit 0, and keeps its identity across restarts', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'vigil-identity-'));
    try {
      const first = await AgentProcess.start({ node: 'a', dataDir });
      expect((await first.get('/healthz')).status).toBe(200);
      expect((await first.get('/readyz')).status).toBe(200);
      const self = await first.get<Self>('/v1/agent/self');
      expect(self.body.Config.NodeName).toBe('a');
      expect(self.body.Vigil.peerId).toMatch(/^12D3KooW/);
      expect(await first.stop('SIGTERM')).toEqual({ code: 0, signal: null });

      const second = await AgentProcess.start({ node: 'a', dataDir });
      const again = await second.get<Self>('/v1/agent/self');
      expect(again.body.Vigil.peerId).toBe(self.body.Vigil.peerId);
      expect(await second.stop('SIGINT')).toEqual({ code: 0, signal: null });
      // The lock is released on a clean stop.
      await expect(readFile(join(dataDir, 'agent.lock'))).rejects.toThrow(/ENOENT/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('redacts gossip keys in /v1/agent/self', async () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const agent = await AgentProcess.start({ node: 'secret', extraArgs: ['--encrypt', key] });
    const self = await agent.get<Self>('/v1/agent/self');
    expect(JSON.stringify(self.body)).not.toContain(key);
    expect(self.body.Vigil.config.encrypt).toEqual(['<redacted>']);
  });

  it('answers unknown routes with a JSON 404 and oversized bodies with 413', async () => {
    const agent = await AgentProcess.start({ node: 'http' });
    const missing = await agent.get<{ error: string }>('/v1/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toContain('/v1/nope');
    const big = await fetch(`${agent.url}/healthz`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: string }).error).toMatch(/larger than the limit/);
    // The agent survives it.
    expect((await agent.get('/healthz')).status).toBe(200);
  });

  it('refuses a second agent on the same data directory, and takes over a lock left by SIGKILL', async () => {
    const first = await AgentProcess.start({ node: 'one' });
    const second = await AgentProcess.spawn({ node: 'two', dataDir: first.dataDir });
    const exit = await second.exited;
    expect(exit.code).toBe(1);
    expect(second.logs).toMatch(/data dir .* is in use by another agent \(pid \d+/);

    expect(await first.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    const third = await AgentProcess.start({ node: 'three', dataDir: first.dataDir });
    expect((await third.get('/healthz')).status).toBe(200);
  });

  it('exits at once on a second signal', async () => {
    const agent = await AgentProcess.start({ node: 'twice' });
    agent.child.kill('SIGTERM');
    agent.child.kill('SIGTERM');
    const exit = await agent.exited;
    // Either the graceful stop won the race (0) or the second signal forced it (1); never a hang.
    expect([0, 1]).toContain(exit.code);
  });
});

describe('configuration errors name the field', () => {
  const cases: [string, string[], RegExp][] = [
    ['bad port', ['--bind', '127.0.0.1:99999'], /--bind: "127\.0\.0\.1:99999" is not a valid port/],
    ['bad profile', ['--profile', 'fast'], /--profile: must be one of lan, wan, local/],
    ['bad key', ['--encrypt', 'not-a-key'], /--encrypt: is not a base64 AES key/],
    ['bad tag', ['--tag', 'novalue'], /--tag: "novalue" is not KEY=VALUE/],
    ['unknown flag', ['--bogus', 'x'], /Unknown option '--bogus'/],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const result = await runVigil(['agent', '--data-dir', join(tmpdir(), 'never-created'), ...args]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(message);
    });
  }

  it('reports problems in a config file with the file name and key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigil-config-'));
    try {
      const file = join(dir, 'config.json');
      await writeFile(file, JSON.stringify({ profile: 'fast', http: '127.0.0.1:70000', colour: 'blue' }));
      const unknown = await runVigil(['agent', '--config', file]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('config.json: unknown field "colour"');

      await writeFile(file, JSON.stringify({ profile: 'fast', http: '127.0.0.1:70000' }));
      const bad = await runVigil(['agent', '--config', file]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('config.json: profile must be one of lan, wan, local');
      expect(bad.stderr).toContain('config.json: http "127.0.0.1:70000" is not a valid port');

      await writeFile(file, '{ not json');
      const broken = await runVigil(['agent', '--config', file]);
      expect(broken.code).toBe(2);
      expect(broken.stderr).toMatch(/config\.json: cannot read config file/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a damaged keyring file in the data directory, naming it, and answers keyring requests it cannot serve with 400', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'vigil-keyring-'));
    try {
      await writeFile(join(dataDir, 'local.keyring'), JSON.stringify(['c2hvcnQ=']));
      const bad = await runVigil(['agent', '--node', 'k', '--data-dir', dataDir, '--bind', '127.0.0.1:0']);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/local\.keyring: entry 0 is not a base64 AES key/);
      await rm(join(dataDir, 'local.keyring'));

      const plain = await AgentProcess.start({ node: 'plain', dataDir });
      const list = await plain.get<{ error: string }>('/v1/operator/keyring');
      expect(list.status).toBe(400);
      expect(list.body.error).toMatch(/encryption is not enabled/);
      const keyed = await AgentProcess.start({
        node: 'keyed',
        extraArgs: ['--encrypt', Buffer.alloc(32, 1).toString('base64'), '--acl-token', 'sesame'],
      });
      // Keys are secrets: even listing them needs the token.
      const anonymous = await keyed.get<{ error: string }>('/v1/operator/keyring?local-only=true');
      expect(anonymous.status).toBe(403);
      const own = await fetch(`${keyed.url}/v1/operator/keyring?local-only=true`, {
        headers: { 'x-vigil-token': 'sesame' },
      });
      expect(((await own.json()) as { Keys: Record<string, number> }[])[0]!.Keys).toEqual({
        [Buffer.alloc(32, 1).toString('base64')]: 1,
      });
      for (const body of [{}, { Key: 'bm90LWEta2V5' }]) {
        const res = await fetch(`${keyed.url}/v1/operator/keyring`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-vigil-token': 'sesame' },
          body: JSON.stringify(body),
        });
        expect(res.status).toBe(400);
        expect(((await res.json()) as { error: string }).error).toMatch(/^Key: /);
      }
      const usage = await runVigil(['keys', '--install', 'x', '--use', 'y']);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toMatch(/exactly one of --list, --install, --use, --remove/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('warns when its API listens beyond loopback without a token, and lists keys only as fingerprints', async () => {
    const key = Buffer.alloc(32, 3).toString('base64');
    const local = await AgentProcess.start({ node: 'local', extraArgs: ['--encrypt', key] });
    // Bound to every interface; the test still reaches it over loopback only.
    const wide = await AgentProcess.start({ node: 'wide', extraArgs: ['--encrypt', key], httpHost: '0.0.0.0' });
    await local.stop();
    expect(wide.logs).toMatch(/listens beyond loopback without an ACL token/);
    expect(local.logs).not.toMatch(/beyond loopback/);
    const list = await runVigil(['keys', '--list', '--local-only', '--http-addr', wide.url]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).not.toContain(key);
    const print = await runVigil(['keys', '--fingerprint', key]);
    expect(print.stdout.trim()).toMatch(/^sha256:[A-Za-z0-9+/]{43}=$/);
    expect(list.stdout).toContain(print.stdout.trim());
    expect(list.stdout).toMatch(/shown as fingerprints/);
  });

  it('fails with a message, not a spin, on a data dir it cannot create', async () => {
    const args = ['agent', '--node', 'p', '--bind', '127.0.0.1:0', '--http', '127.0.0.1:0', '--p2p', '127.0.0.1:0'];
    // Node's recursive mkdir loops for ever under /proc; the agent spun at 100 % CPU.
    const proc = await runVigil([...args, '--data-dir', '/proc/vigil-x'], {}, 15_000);
    expect(proc.code, proc.stderr).toBe(1);
    expect(proc.stderr).toMatch(/cannot start: --data-dir: cannot create \/proc\/vigil-x: ENOENT/);
    const file = await runVigil([...args, '--data-dir', '/etc/hostname/x'], {}, 15_000);
    expect(file.code).toBe(1);
    expect(file.stderr).toMatch(/--data-dir: cannot create \/etc\/hostname\/x: ENOTDIR/);
  });

  it('reads VIGIL_* variables, below flags', async () => {
    const result = await runVigil(['agent'], { VIGIL_PROFILE: 'slow' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('VIGIL_PROFILE: must be one of lan, wan, local');
  });
});

describe('vigil CLI', () => {
  it('prints help, version and keys', async () => {
    const help = await runVigil(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: vigil <command>/);
    const version = await runVigil(['version']);
    expect(version.stdout).toMatch(/^vigil \d+\.\d+\.\d+/);
    const key = await runVigil(['keygen']);
    expect(Buffer.from(key.stdout.trim(), 'base64')).toHaveLength(32);
    const unknown = await runVigil(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
  });
});
