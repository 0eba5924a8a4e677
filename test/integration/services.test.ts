import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, disposeAllAgents, runVigil } from './harness/agent-process.ts';
import { HttpTarget, waitFor } from './harness/http-target.ts';
import { processAlive } from './harness/process-alive.ts';

interface Check {
  CheckID: string;
  Status: 'passing' | 'warning' | 'critical';
  Output: string;
  Notes: string;
  ServiceID: string;
  Type: string;
}
interface Service {
  ID: string;
  Service: string;
  Port: number;
  Priority: number;
  Zone: string;
  Tags: string[];
}

const targets: HttpTarget[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await disposeAllAgents();
  await Promise.all(targets.splice(0).map((t) => t.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

async function put(
  agent: AgentProcess,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; error?: string }> {
  const res = await fetch(`${agent.url}${path}`, {
    method: 'PUT',
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, ...(text ? { error: (JSON.parse(text) as { error?: string }).error } : {}) };
}

const checks = async (agent: AgentProcess) => (await agent.get<Record<string, Check>>('/v1/agent/checks')).body;
const services = async (agent: AgentProcess) => (await agent.get<Record<string, Service>>('/v1/agent/services')).body;
const checkStatus = async (agent: AgentProcess, id: string) => (await checks(agent))[id]?.Status;

describe('health checks in a real agent against real servers', () => {
  it('flips an HTTP check on 500, 429, a hang past the timeout and a stopped server', async () => {
    const target = await HttpTarget.start();
    targets.push(target);
    const agent = await AgentProcess.start({ node: 'http-checks' });
    const reg = await put(agent, '/v1/agent/service/register', {
      Name: 'web',
      Port: target.port,
      Check: { CheckID: 'web-http', HTTP: `${target.url}/health`, Interval: '200ms', Timeout: '500ms' },
    });
    expect(reg.status).toBe(200);
    await waitFor(async () => (await checkStatus(agent, 'web-http')) === 'passing', 'passing');
    target.mode = 500;
    await waitFor(async () => (await checkStatus(agent, 'web-http')) === 'critical', 'critical on 500');
    target.mode = 429;
    await waitFor(async () => (await checkStatus(agent, 'web-http')) === 'warning', 'warning on 429');
    target.mode = 'hang';
    await waitFor(async () => (await checkStatus(agent, 'web-http')) === 'critical', 'critical on a hang');
    expect((await checks(agent))['web-http']?.Output).toMatch(/timed out after 500ms/);
    target.mode = 200;
    await waitFor(async () => (await checkStatus(agent, 'web-http')) === 'passing', 'passing again');
    await target.close();
    await waitFor(async () => (await checkStatus(agent, 'web-http')) === 'critical', 'critical when stopped');
    expect((await checks(agent))['web-http']?.Output).toMatch(/ECONNREFUSED/);
  });

  it('damps flaps with the thresholds', async () => {
    const target = await HttpTarget.start();
    targets.push(target);
    const agent = await AgentProcess.start({ node: 'damping' });
    await put(agent, '/v1/agent/service/register', {
      Name: 'web',
      Port: target.port,
      Check: { CheckID: 'c', HTTP: target.url, Interval: '100ms', FailuresBeforeCritical: 4, Status: 'passing' },
    });
    await waitFor(() => target.requests >= 2, 'probes');
    // A single failed probe between good ones does not flip the check.
    target.mode = 500;
    const before = target.requests;
    await waitFor(() => target.requests >= before + 1, 'one failed probe');
    target.mode = 200;
    await waitFor(() => target.requests >= before + 4, 'more good probes');
    expect(await checkStatus(agent, 'c')).toBe('passing');
    target.mode = 500;
    await waitFor(async () => (await checkStatus(agent, 'c')) === 'critical', 'critical after sustained failure');
  });

  it('flips a TCP check when the listener stops, and expires a TTL check', async () => {
    const target = await HttpTarget.start();
    targets.push(target);
    const agent = await AgentProcess.start({ node: 'tcp-ttl' });
    await put(agent, '/v1/agent/service/register', {
      Name: 'db',
      Port: target.port,
      Checks: [
        { CheckID: 'tcp', TCP: `127.0.0.1:${target.port}`, Interval: '200ms' },
        { CheckID: 'beat', TTL: '1s' },
      ],
    });
    await waitFor(async () => (await checkStatus(agent, 'tcp')) === 'passing', 'TCP passing');
    expect((await put(agent, '/v1/agent/check/pass/beat?note=alive')).status).toBe(200);
    expect(await checkStatus(agent, 'beat')).toBe('passing');
    await waitFor(async () => (await checkStatus(agent, 'beat')) === 'critical', 'the TTL to expire');
    expect((await checks(agent)).beat?.Output).toMatch(/^TTL expired/);
    await target.close();
    await waitFor(async () => (await checkStatus(agent, 'tcp')) === 'critical', 'TCP critical');
  });
});

describe('registration errors', () => {
  const cases: [string, unknown, RegExp][] = [
    ['missing name', { Port: 80 }, /^Name: is required$/],
    ['port out of range', { Name: 'web', Port: 99999 }, /^Port: must be between 1 and 65535$/],
    [
      'unknown check type',
      { Name: 'web', Port: 80, Checks: [{ UDP: '127.0.0.1:53', Interval: '10s' }] },
      /^Checks\[0\]\.UDP: unsupported check type UDP/,
    ],
    [
      'negative interval',
      { Name: 'web', Port: 80, Check: { HTTP: 'http://127.0.0.1/', Interval: '-10s' } },
      /^Check\.Interval: must be a positive duration$/,
    ],
  ];

  it('answers bad definitions with 400 naming the field, and too-large bodies with 413; nothing is stored', async () => {
    const agent = await AgentProcess.start({ node: 'errors' });
    for (const [what, body, message] of cases) {
      const res = await put(agent, '/v1/agent/service/register', body);
      expect(res.status, what).toBe(400);
      expect(res.error, what).toMatch(message);
    }
    const big = await put(agent, '/v1/agent/service/register', {
      Name: 'web',
      Port: 80,
      Meta: { pad: 'x'.repeat(2 * 1024 * 1024) },
    });
    expect(big.status).toBe(413);
    expect(await services(agent)).toEqual({});
    expect(await checks(agent)).toEqual({});
    const stored = JSON.parse(await readFile(join(agent.dataDir, 'services.json'), 'utf8'));
    expect(stored.services).toEqual([]);
    // And the agent is still fine.
    expect((await put(agent, '/v1/agent/service/register', { Name: 'ok', Port: 1 })).status).toBe(200);
  });
});

/** 10 × 400 bytes of metadata per registration. */
const PAD = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`pad${i}`, String(i).repeat(400)]));

describe('durability', () => {
  it('keeps every acknowledged registration, whole, when SIGKILLed in the middle of writing them', async () => {
    const dataDir = await tempDir('vigil-sigkill-');
    const agent = await AgentProcess.start({ node: 'crash', dataDir });
    const total = 300;
    const acknowledged: string[] = [];
    let killed = false;
    const requests = Array.from({ length: total }, async (_, i) => {
      const id = `svc-${i}`;
      try {
        const res = await put(agent, '/v1/agent/service/register', {
          ID: id,
          Name: 'load',
          Port: 10_000 + i,
          Tags: [`t${i}`],
          Meta: PAD, // big enough that each write of the whole file takes a while
          Checks: [{ CheckID: `${id}-ttl`, TTL: '1h' }],
        });
        if (res.status === 200) acknowledged.push(id);
      } catch {
        // the agent died under this request
      }
      // Kill it while registrations are still arriving and being written.
      if (!killed && acknowledged.length >= 20) {
        killed = true;
        agent.child.kill('SIGKILL');
      }
    });
    await Promise.all(requests);
    if (!killed) agent.child.kill('SIGKILL'); // fails below, but never hangs
    expect(killed).toBe(true);
    expect(await agent.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(acknowledged.length).toBeGreaterThanOrEqual(20);
    expect(acknowledged.length).toBeLessThan(total); // it really died mid-stream

    // The file on disk is whole: valid JSON, and every stored registration complete.
    const stored = JSON.parse(await readFile(join(dataDir, 'services.json'), 'utf8')) as {
      services: { service: { ID: string; Name: string; Port: number; Meta: Record<string, string> } }[];
      checks: { check: { CheckID: string; ServiceID: string } }[];
    };
    const storedIds = new Set(stored.services.map((s) => s.service.ID));
    for (const { service } of stored.services) {
      expect(service.Name).toBe('load');
      expect(service.Port).toBe(10_000 + Number(service.ID.slice(4)));
      expect(service.Meta).toEqual(PAD);
    }
    for (const { check } of stored.checks) expect(storedIds.has(check.ServiceID)).toBe(true);
    expect(stored.checks).toHaveLength(stored.services.length);
    for (const id of acknowledged) expect(storedIds.has(id), `${id} was acknowledged`).toBe(true);

    // And a restarted agent serves exactly that, having swept any temporary file the crash left.
    const again = await AgentProcess.start({ node: 'crash', dataDir });
    const after = await services(again);
    expect(Object.keys(after).sort()).toEqual([...storedIds].sort());
    for (const id of acknowledged) expect(after[id]?.Port).toBe(10_000 + Number(id.slice(4)));
    expect((await readdir(dataDir)).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('comes back after SIGKILL with checks, their last state and maintenance', async () => {
    const dataDir = await tempDir('vigil-restart-');
    const first = await AgentProcess.start({ node: 'restart', dataDir, extraArgs: ['--zone', 'eu-1'] });
    await put(first, '/v1/agent/service/register', {
      Name: 'api',
      Port: 9000,
      Priority: 1,
      Checks: [
        { CheckID: 'beat', TTL: '10m' },
        { CheckID: 'tcp', TCP: '127.0.0.1:1', Interval: '10m', Status: 'passing' },
      ],
    });
    expect((await put(first, '/v1/agent/check/warn/beat?note=degraded')).status).toBe(200);
    expect((await put(first, '/v1/agent/service/maintenance/api?enable=true&reason=deploy')).status).toBe(200);
    expect((await put(first, '/v1/agent/maintenance?enable=true&reason=rack%207')).status).toBe(200);
    await first.stop('SIGKILL');

    const second = await AgentProcess.start({ node: 'restart', dataDir, extraArgs: ['--zone', 'eu-1'] });
    expect((await services(second)).api).toMatchObject({ Port: 9000, Priority: 1, Zone: 'eu-1' });
    const after = await checks(second);
    expect(after.beat).toMatchObject({ Status: 'warning', Output: 'degraded' });
    expect(after['_service_maintenance:api']).toMatchObject({ Status: 'critical', Notes: 'deploy' });
    expect(after._node_maintenance).toMatchObject({ Notes: 'rack 7' });
    const health = await second.get<{ AggregatedStatus: string }>('/v1/agent/health/service/id/api');
    expect(health.status).toBe(503);
    expect(health.body.AggregatedStatus).toBe('maintenance');
  });
});

describe('exec checks and the ACL token', () => {
  it('refuses exec checks over HTTP without --enable-exec-checks', async () => {
    const agent = await AgentProcess.start({ node: 'no-exec' });
    const res = await put(agent, '/v1/agent/service/register', {
      Name: 'job',
      Port: 1,
      Check: { Args: ['/bin/sh', '-c', 'touch /tmp/pwned'], Interval: '1s' },
    });
    expect(res.status).toBe(403);
    expect(res.error).toMatch(/--enable-exec-checks/);
    expect(await services(agent)).toEqual({});
  });

  it('runs exec checks with the flag, and kills their processes when the agent stops', async () => {
    const dir = await tempDir('vigil-exec-');
    const pidFile = join(dir, 'child.pid');
    const agent = await AgentProcess.start({ node: 'exec', extraArgs: ['--enable-exec-checks'] });
    await put(agent, '/v1/agent/service/register', {
      Name: 'job',
      Port: 1,
      Checks: [
        { CheckID: 'ok', Args: ['sh', '-c', 'echo fine'], Interval: '200ms' },
        { CheckID: 'warn', Args: ['sh', '-c', 'echo meh; exit 1'], Interval: '200ms' },
        { CheckID: 'slow', Args: ['sh', '-c', `echo $$ > ${pidFile}; sleep 60`], Interval: '200ms', Timeout: '1m' },
      ],
    });
    await waitFor(async () => (await checkStatus(agent, 'ok')) === 'passing', 'exit 0 to pass');
    expect((await checks(agent)).ok?.Output).toBe('fine\n');
    await waitFor(async () => (await checkStatus(agent, 'warn')) === 'warning', 'exit 1 to warn');
    const pid = await waitFor(async () => {
      const text = await readFile(pidFile, 'utf8').catch(() => '');
      return text.trim() ? Number(text.trim()) : undefined;
    }, 'the slow check to start');
    const alive = processAlive;
    expect(alive(pid)).toBe(true);
    try {
      expect(await agent.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      await waitFor(() => !alive(pid), 'the check process to be killed with the agent', 10_000);
    } finally {
      if (alive(pid)) process.kill(-pid, 'SIGKILL'); // never leave it behind, even when the test fails
    }
  });

  it('enforces the ACL token on writes, for the API and the CLI', async () => {
    const agent = await AgentProcess.start({ node: 'acl', env: { VIGIL_ACL_TOKEN: 'tok-123' } });
    const body = { Name: 'web', Port: 80 };
    expect((await put(agent, '/v1/agent/service/register', body)).status).toBe(403);
    expect((await put(agent, '/v1/agent/service/register', body, { 'X-Vigil-Token': 'wrong' })).status).toBe(403);
    expect((await put(agent, '/v1/agent/maintenance?enable=true')).status).toBe(403);
    expect(await services(agent)).toEqual({});
    expect((await put(agent, '/v1/agent/service/register', body, { 'X-Vigil-Token': 'tok-123' })).status).toBe(200);
    expect((await put(agent, '/v1/agent/service/deregister/web?token=tok-123')).status).toBe(200);

    const denied = await runVigil(['maint', '--enable', '--http-addr', agent.url]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/403: permission denied/);
    const allowed = await runVigil([
      'maint',
      '--enable',
      '--reason',
      'drain',
      '--http-addr',
      agent.url,
      '--token',
      'tok-123',
    ]);
    expect(allowed.code).toBe(0);
    const self = await agent.get<{ Vigil: { config: Record<string, unknown> } }>('/v1/agent/self');
    expect(JSON.stringify(self.body)).not.toContain('tok-123');
  });
});

describe('vigil services, checks and maint', () => {
  it('registers from a file, lists, drains and deregisters through the CLI', async () => {
    const dir = await tempDir('vigil-cli-');
    const file = join(dir, 'web.json');
    await writeFile(
      file,
      JSON.stringify({
        services: [
          { ID: 'web-1', Name: 'web', Port: 8080, Priority: 0, Check: { CheckID: 'web-ttl', TTL: '10m' } },
          { id: 'web-2', name: 'web', port: 8081, priority: 1, zone: 'b' },
        ],
      }),
    );
    const agent = await AgentProcess.start({ node: 'cli' });
    const env = { VIGIL_HTTP_ADDR: `127.0.0.1:${agent.httpPort}` };
    const registered = await runVigil(['services', 'register', file], env);
    expect(registered.stderr).toBe('');
    expect(registered.code).toBe(0);
    expect(registered.stdout).toBe('Registered service: web-1\nRegistered service: web-2\n');

    const list = await runVigil(['services', 'list'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+NAME\s+ADDRESS\s+PRIORITY\s+ZONE\s+WEIGHT\s+HEALTH/);
    expect(list.stdout).toMatch(/web-1\s+web\s+\(node\):8080\s+0\s+default\s+1\s+critical/);
    expect(list.stdout).toMatch(/web-2\s+web\s+\(node\):8081\s+1\s+b\s+1\s+passing/);
    const json = await runVigil(['services', 'list', '--json'], env);
    expect(Object.keys(JSON.parse(json.stdout))).toEqual(['web-1', 'web-2']);

    await put(agent, '/v1/agent/check/pass/web-ttl?note=ok');
    const listed = await runVigil(['checks'], env);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/web-ttl\s+web-1\s+ttl\s+passing\s+ok/);

    expect((await runVigil(['maint', '--enable', '--service', 'web-2', '--reason', 'deploy'], env)).code).toBe(0);
    const maint = await runVigil(['maint'], env);
    expect(maint.stdout).toContain('Service: web-2\n  Reason: deploy');
    expect((await runVigil(['services', 'list'], env)).stdout).toMatch(/web-2\s+.*maintenance/);
    expect((await runVigil(['maint', '--disable', '--service', 'web-2'], env)).code).toBe(0);
    expect((await runVigil(['maint'], env)).stdout).toBe('Nothing is in maintenance.\n');

    const gone = await runVigil(['services', 'deregister', 'web-1'], env);
    expect(gone.code).toBe(0);
    expect(Object.keys(await services(agent))).toEqual(['web-2']);
    const again = await runVigil(['services', 'deregister', 'web-1'], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/404: no service with ID "web-1"/);

    await writeFile(file, JSON.stringify({ Name: 'bad', Port: 0 }));
    const bad = await runVigil(['services', 'register', file], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/400: Port: must be between 1 and 65535/);
  });

  it('says so when the agent is not there', async () => {
    const res = await runVigil(['services', 'list', '--http-addr', '127.0.0.1:1']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/cannot reach the agent at http:\/\/127\.0\.0\.1:1/);
  });
});

describe('services from configuration', () => {
  it('registers the config file services and a services_dir, and refuses a bad one naming the field', async () => {
    const dir = await tempDir('vigil-config-services-');
    const servicesDir = join(dir, 'services.d');
    await mkdir(servicesDir);
    await writeFile(join(servicesDir, 'cache.json'), JSON.stringify({ service: { name: 'cache', port: 6379 } }));
    const config = join(dir, 'agent.json');
    await writeFile(
      config,
      JSON.stringify({
        zone: 'z9',
        services_dir: servicesDir,
        services: [{ Name: 'db', Port: 5432, Priority: 1, Check: { TTL: '1m', CheckID: 'db-ttl' } }],
      }),
    );
    const agent = await AgentProcess.start({ node: 'configured', extraArgs: ['--config', config] });
    const listed = await services(agent);
    expect(Object.keys(listed).sort()).toEqual(['cache', 'db']);
    expect(listed.db).toMatchObject({ Port: 5432, Priority: 1, Zone: 'z9' });
    expect((await checks(agent))['db-ttl']?.Status).toBe('critical');
    await agent.stop();

    await writeFile(config, JSON.stringify({ services: [{ Name: 'db', Port: 70000 }] }));
    const bad = await runVigil(['agent', '--config', config, '--data-dir', join(dir, 'never')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('agent.json: services.0 Port: must be between 1 and 65535');

    await writeFile(join(servicesDir, 'cache.json'), JSON.stringify({ service: { name: 'cache' } }));
    const badDir = await runVigil(['agent', '--services-dir', servicesDir, '--data-dir', join(dir, 'never2')]);
    expect(badDir.code).toBe(1);
    expect(badDir.stderr).toMatch(/cache\.json: service\.Port: is required/);
  });
});
