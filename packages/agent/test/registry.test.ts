import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualRuntime } from '../src/runtime/index.ts';
import type { RegistryEvent } from '../src/services/events.ts';
import { parseServiceRegistration } from '../src/services/registration.ts';
import { type RegistryOptions, ServiceRegistry } from '../src/services/registry.ts';
import { TestHttpServer } from './helpers/servers.ts';
import { waitFor } from './helpers/wait.ts';

const log = pino({ level: 'silent' });
let dir: string;
const open: ServiceRegistry[] = [];
const servers: TestHttpServer[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-registry-'));
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.stop()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

async function openRegistry(extra: Partial<RegistryOptions> = {}): Promise<ServiceRegistry> {
  const registry = await ServiceRegistry.open({
    dataDir: dir,
    node: 'n1',
    zone: 'z1',
    log,
    firstRunDelayMs: 0,
    stateWriteDelayMs: 10,
    ...extra,
  });
  open.push(registry);
  registry.start();
  return registry;
}

async function reopen(registry: ServiceRegistry, extra: Partial<RegistryOptions> = {}): Promise<ServiceRegistry> {
  await registry.stop();
  open.splice(open.indexOf(registry), 1);
  return openRegistry(extra);
}

const reg = (body: Record<string, unknown>) => parseServiceRegistration(body);
const health = (r: ServiceRegistry, id: string) => r.getService(id)?.health;
const status = (r: ServiceRegistry, checkId: string) => r.listChecks().find((c) => c.definition.id === checkId)?.status;

describe('ServiceRegistry', () => {
  it('registers, reports health changes as events with a rising index, and deregisters', async () => {
    const registry = await openRegistry();
    const events: RegistryEvent[] = [];
    registry.subscribe((e) => events.push(e));
    await registry.register(reg({ Name: 'web', Port: 80, Check: { TTL: '10s', CheckID: 'web-ttl' } }));
    expect(registry.getService('web')).toMatchObject({
      service: { id: 'web', zone: 'z1', priority: 0 },
      health: 'critical', // a new check starts critical
    });
    await registry.updateTtl('web-ttl', 'passing', 'ok');
    expect(health(registry, 'web')).toBe('passing');
    await registry.updateTtl('web-ttl', 'warning', 'slow');
    expect(health(registry, 'web')).toBe('warning');
    await registry.deregister('web');
    expect(registry.getService('web')).toBeUndefined();
    expect(registry.listChecks()).toEqual([]);

    expect(events.map((e) => e.type)).toEqual([
      'service-registered',
      'check-updated',
      'health-changed',
      'check-updated',
      'health-changed',
      'service-deregistered',
    ]);
    expect(events.map((e) => e.index)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(events[2]).toMatchObject({ serviceId: 'web', previous: 'critical', health: 'passing' });
    expect(registry.index).toBe(6);
    expect(registry.since(4)?.map((e) => e.index)).toEqual([5, 6]);
    expect(registry.since(6)).toEqual([]);
  });

  it('stamps a recovery (the failback hold-down) only on an instance that was usable before', async () => {
    const runtime = new VirtualRuntime(3);
    const registry = await openRegistry({ runtime });
    await registry.register(reg({ Name: 'web', Port: 80, Check: { TTL: '10s', CheckID: 'web-ttl' } }));
    await registry.updateTtl('web-ttl', 'passing', 'first pass'); // starting, not recovering
    expect(registry.getService('web')?.recoveredAt).toBeUndefined();
    await registry.updateTtl('web-ttl', 'critical', 'down');
    runtime.advance(1_000);
    await registry.updateTtl('web-ttl', 'passing', 'back');
    expect(registry.getService('web')?.recoveredAt).toBe(runtime.clock.wallNow());
    const first = runtime.clock.wallNow();
    runtime.advance(1_000);
    await registry.setServiceMaintenance('web', true, 'drain');
    await registry.setServiceMaintenance('web', false);
    expect(registry.getService('web')?.recoveredAt).toBe(first + 1_000);
    // Restored from the data dir: it ran in the previous life, so its next recovery counts.
    const again = await reopen(registry, { runtime });
    expect(again.getService('web')?.recoveredAt).toBeUndefined();
    await again.updateTtl('web-ttl', 'critical', 'down');
    await again.updateTtl('web-ttl', 'passing', 'back');
    expect(again.getService('web')?.recoveredAt).toBe(runtime.clock.wallNow());
  });

  it('takes the worst check, counts node checks for every service, and puts maintenance above all', async () => {
    const registry = await openRegistry();
    await registry.register(
      reg({
        Name: 'a',
        Port: 1,
        Checks: [
          { TTL: '10s', CheckID: 'a1', Status: 'passing' },
          { TTL: '10s', CheckID: 'a2', Status: 'passing' },
        ],
      }),
    );
    await registry.register(reg({ Name: 'b', Port: 2 }));
    expect(health(registry, 'a')).toBe('passing');
    expect(health(registry, 'b')).toBe('passing'); // no checks is passing
    await registry.updateTtl('a2', 'critical', 'down');
    expect(health(registry, 'a')).toBe('critical');
    await registry.registerCheck(
      (await import('../src/services/registration.ts')).parseCheckRegistration({
        Name: 'disk',
        TTL: '10s',
        Status: 'warning',
      }),
    );
    expect(health(registry, 'b')).toBe('warning');
    await registry.setServiceMaintenance('b', true, 'deploy');
    expect(health(registry, 'b')).toBe('maintenance');
    expect(registry.getService('b')?.maintenance?.reason).toBe('deploy');
    await registry.setServiceMaintenance('b', false);
    expect(health(registry, 'b')).toBe('warning');
    await registry.setNodeMaintenance(true);
    expect(health(registry, 'a')).toBe('maintenance');
    expect(health(registry, 'b')).toBe('maintenance');
    expect(registry.getNodeMaintenance()?.reason).toMatch(/no reason was provided/);
    await registry.setNodeMaintenance(false);
    expect(health(registry, 'a')).toBe('critical');
  });

  it('keeps check state on re-registration, and drops missing checks only with replaceExistingChecks', async () => {
    const registry = await openRegistry();
    await registry.register(
      reg({
        Name: 'a',
        Port: 1,
        Checks: [
          { TTL: '10s', CheckID: 'x' },
          { TTL: '10s', CheckID: 'y' },
        ],
      }),
    );
    await registry.updateTtl('x', 'passing', '');
    await registry.register(reg({ Name: 'a', Port: 1, Weight: 3, Checks: [{ TTL: '10s', CheckID: 'x' }] }));
    expect(status(registry, 'x')).toBe('passing');
    expect(status(registry, 'y')).toBe('critical'); // Consul keeps checks the new definition lacks
    await registry.register(reg({ Name: 'a', Port: 1, Checks: [{ TTL: '10s', CheckID: 'x' }] }), {
      replaceExistingChecks: true,
    });
    expect(registry.listChecks().map((c) => c.definition.id)).toEqual(['x']);
    expect(health(registry, 'a')).toBe('passing');
  });

  it('refuses check ID clashes, reserved IDs and API exec checks unless enabled', async () => {
    const registry = await openRegistry();
    await registry.register(reg({ Name: 'a', Port: 1, Check: { TTL: '10s', CheckID: 'shared' } }));
    await expect(
      registry.register(reg({ Name: 'b', Port: 1, Check: { TTL: '10s', CheckID: 'shared' } })),
    ).rejects.toMatchObject({
      statusCode: 409,
    });
    await expect(
      registry.register(reg({ Name: 'b', Port: 1, Check: { TTL: '10s', CheckID: '_node_maintenance' } })),
    ).rejects.toMatchObject({ statusCode: 400 });
    const exec = reg({ Name: 'c', Port: 1, Check: { Args: ['true'], Interval: '1s' } });
    await expect(registry.register(exec)).rejects.toMatchObject({
      statusCode: 403,
      message: expect.stringMatching(/--enable-exec-checks/),
    });
    // Nothing of a refused registration is kept.
    expect(registry.listServices().map((s) => s.service.id)).toEqual(['a']);
    // The operator's config may have exec checks.
    await registry.register(exec, { source: 'config' });
    expect(registry.getService('c')).toBeDefined();
  });

  it('runs HTTP checks and flips the instance health with the server', async () => {
    const server = await TestHttpServer.start();
    servers.push(server);
    const registry = await openRegistry();
    await registry.register(reg({ Name: 'web', Port: server.port, Check: { HTTP: server.url, Interval: '100ms' } }));
    await waitFor(() => health(registry, 'web') === 'passing', 'passing');
    server.mode = 500;
    await waitFor(() => health(registry, 'web') === 'critical', 'critical');
  });

  it('turns a TTL check critical when its TTL runs out', async () => {
    const registry = await openRegistry();
    await registry.register(reg({ Name: 'job', Port: 1, Check: { TTL: '200ms', CheckID: 'beat' } }));
    await registry.updateTtl('beat', 'passing', 'alive');
    expect(status(registry, 'beat')).toBe('passing');
    await waitFor(() => status(registry, 'beat') === 'critical', 'the TTL to expire');
    expect(registry.listChecks()[0]?.output).toBe('TTL expired (last output before timeout follows): alive');
  });

  it('refuses pass/warn/fail on checks that are not TTL checks, and unknown IDs', async () => {
    const registry = await openRegistry();
    await registry.register(reg({ Name: 'a', Port: 1, Check: { TCP: '127.0.0.1:1', Interval: '1s' } }));
    await expect(registry.updateTtl('service:a', 'passing', '')).rejects.toMatchObject({ statusCode: 400 });
    await expect(registry.updateTtl('nope', 'passing', '')).rejects.toMatchObject({ statusCode: 404 });
    await expect(registry.deregister('nope')).rejects.toMatchObject({ statusCode: 404 });
  });

  it('deregisters a service whose check stayed critical past DeregisterCriticalServiceAfter', async () => {
    const registry = await openRegistry({ minDeregisterAfterMs: 1 });
    const events: RegistryEvent[] = [];
    registry.subscribe((e) => events.push(e));
    await registry.register(
      parseServiceRegistration(
        { Name: 'flaky', Port: 1, Check: { TTL: '10s', DeregisterCriticalServiceAfter: '1s' } },
        { minDeregisterAfterMs: 1 },
      ),
    );
    const since = registry.listChecks()[0]!.since;
    registry.reap(since + 500);
    expect(registry.getService('flaky')).toBeDefined();
    registry.reap(since + 1000);
    expect(registry.getService('flaky')).toBeUndefined();
    expect(events.at(-1)).toMatchObject({ type: 'service-deregistered', reason: 'critical-too-long' });
  });
});

describe('ServiceRegistry persistence', () => {
  it('comes back after a restart with services, checks, their last state and maintenance', async () => {
    const first = await openRegistry();
    await first.register(
      reg({
        Name: 'web',
        ID: 'web-1',
        Port: 8080,
        Tags: ['a'],
        Meta: { k: 'v' },
        Priority: 2,
        Zone: 'zz',
        Checks: [
          { TTL: '1h', CheckID: 't' },
          { TTL: '1h', CheckID: 'c', Status: 'warning' },
        ],
      }),
    );
    await first.updateTtl('t', 'passing', 'fine');
    await first.setServiceMaintenance('web-1', true, 'upgrade');
    await first.setNodeMaintenance(true, 'rack move');
    const index = first.index;

    const second = await reopen(first);
    const view = second.getService('web-1')!;
    expect(view.service).toEqual({
      id: 'web-1',
      name: 'web',
      address: '',
      port: 8080,
      tags: ['a'],
      meta: { k: 'v' },
      weights: { passing: 1, warning: 1 },
      priority: 2,
      zone: 'zz',
    });
    expect(view.maintenance?.reason).toBe('upgrade');
    expect(second.getNodeMaintenance()?.reason).toBe('rack move');
    expect(status(second, 't')).toBe('passing');
    expect(second.listChecks().find((c) => c.definition.id === 't')?.output).toBe('fine');
    expect(status(second, 'c')).toBe('warning');
    expect(second.index).toBeGreaterThanOrEqual(index);
  });

  it('keeps a TTL deadline across a restart', async () => {
    const first = await openRegistry();
    await first.register(reg({ Name: 'job', Port: 1, Check: { TTL: '300ms', CheckID: 'beat' } }));
    await first.updateTtl('beat', 'passing', '');
    const second = await reopen(first);
    expect(status(second, 'beat')).toBe('passing');
    await waitFor(() => status(second, 'beat') === 'critical', 'the TTL to expire after the restart');
  });

  it('keeps every acknowledged registration when many are written at once, in one valid file', async () => {
    const registry = await openRegistry();
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        registry.register(reg({ Name: `svc-${i}`, Port: 1000 + i, Check: { TTL: '1h' } })),
      ),
    );
    const stored = JSON.parse(await readFile(join(dir, 'services.json'), 'utf8'));
    expect(stored.services).toHaveLength(50);
    expect(stored.checks).toHaveLength(50);
    expect((await readdir(dir)).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('reconciles config services: adds, updates, and removes those no longer configured, keeping API ones', async () => {
    const registry = await openRegistry();
    await registry.register(reg({ Name: 'api-svc', Port: 1 }));
    await registry.applyConfig([reg({ Name: 'cfg-a', Port: 1 }), reg({ Name: 'cfg-b', Port: 2 })]);
    const again = await reopen(registry);
    await again.applyConfig([reg({ Name: 'cfg-b', Port: 3 })]);
    expect(again.listServices().map((s) => [s.service.id, s.source, s.service.port])).toEqual([
      ['api-svc', 'api', 1],
      ['cfg-b', 'config', 3],
    ]);
  });

  // A real full disk: a 256 KiB tmpfs (root, as CI is), filled with a file until ENOSPC.
  it('starts with its configured services on a full disk, losing nothing already stored', async () => {
    const disk = await mkdtemp(join(tmpdir(), 'vigil-registry-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', disk]);
    try {
      const first = await openRegistry({ dataDir: disk });
      await first.register(reg({ Name: 'api-svc', Port: 1 }));
      await first.stop();
      open.splice(open.indexOf(first), 1);
      // dd stops at ENOSPC: its failure is the point.
      const dd = spawnSync('dd', ['if=/dev/zero', `of=${join(disk, 'fill')}`, 'bs=4k']);
      expect(dd.stderr.toString()).toContain('No space left');
      const second = await openRegistry({ dataDir: disk });
      await second.applyConfig([reg({ Name: 'cfg', Port: 2 })]);
      expect(second.listServices().map((s) => s.service.id)).toEqual(['api-svc', 'cfg']);
      // The failed write left the old file whole.
      expect(JSON.parse(await readFile(join(disk, 'services.json'), 'utf8')).services).toHaveLength(1);
      await rm(join(disk, 'fill'));
      await second.register(reg({ Name: 'later', Port: 3 }));
      expect(JSON.parse(await readFile(join(disk, 'services.json'), 'utf8')).services).toHaveLength(3);
    } finally {
      await Promise.all(open.splice(0).map((r) => r.stop()));
      execFileSync('umount', [disk]);
      await rm(disk, { recursive: true, force: true });
    }
  });

  it('does not run persisted API exec checks once exec checks are disabled', async () => {
    const first = await openRegistry({ enableExecChecks: true });
    await first.register(reg({ Name: 'x', Port: 1, Check: { Args: ['true'], Interval: '100ms', CheckID: 'e' } }));
    await waitFor(() => status(first, 'e') === 'passing', 'the exec check to pass');
    const second = await reopen(first, { enableExecChecks: false });
    expect(status(second, 'e')).toBe('critical');
    expect(second.listChecks()[0]?.output).toMatch(/--enable-exec-checks/);
  });

  it('refuses to start on a corrupt services.json, and removes temporaries left by a crash', async () => {
    await writeFile(join(dir, 'services.json.tmp-123-abcd'), '{"half');
    const registry = await openRegistry();
    expect((await readdir(dir)).filter((n) => n.includes('.tmp-'))).toEqual([]);
    await registry.stop();
    open.splice(0);
    await writeFile(join(dir, 'services.json'), '{"version": 1, "services": [');
    await expect(openRegistry()).rejects.toThrow(/services\.json cannot be read/);
  });

  it('leaves no timers or processes behind after stop', async () => {
    const server = await TestHttpServer.start();
    servers.push(server);
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const registry = await openRegistry({ enableExecChecks: true });
    await registry.register(
      reg({
        Name: 'many',
        Port: 1,
        Checks: [
          { HTTP: server.url, Interval: '100ms' },
          { TCP: `127.0.0.1:${server.port}`, Interval: '100ms' },
          { Args: ['sleep', '30'], Interval: '100ms', Timeout: '30s' },
          { TTL: '10s' },
        ],
      }),
    );
    await waitFor(() => server.requests >= 2, 'a few probes');
    await registry.stop();
    await new Promise((r) => setTimeout(r, 50));
    const timersAfter = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    expect(timersAfter).toBeLessThanOrEqual(timersBefore);
    expect(process.getActiveResourcesInfo()).not.toContain('ProcessWrap');
  });
});
