import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DefinitionError, parseServiceRegistration, serviceToBody } from '../src/services/registration.ts';
import { ServiceRegistry } from '../src/services/registry.ts';
import { problemsOf } from './helpers/problems.ts';

const problems = (raw: unknown) => problemsOf(DefinitionError, () => parseServiceRegistration(raw));

describe('Policy leader', () => {
  it('parses voters and hooks, with defaults', () => {
    const { service } = parseServiceRegistration({
      Name: 'db',
      Port: 5432,
      Policy: 'leader',
      OnPromote: { Args: ['/bin/promote', '--now'], Timeout: '3s' },
      on_demote: { args: ['/bin/demote'] },
    });
    expect(service.policy).toBe('leader');
    expect(service.election).toEqual({
      voters: 3,
      onPromote: { args: ['/bin/promote', '--now'], timeoutMs: 3000 },
      onDemote: { args: ['/bin/demote'], timeoutMs: 10_000 },
    });
    expect(
      parseServiceRegistration({ Name: 'db', Port: 1, Policy: 'leader', Voters: 5 }).service.election?.voters,
    ).toBe(5);
  });

  it('round-trips through the stored body', () => {
    const { service } = parseServiceRegistration({
      Name: 'db',
      Port: 5432,
      Policy: 'leader',
      Voters: 5,
      OnDemote: { Args: ['x'], Timeout: '1500ms' },
    });
    expect(parseServiceRegistration(serviceToBody(service)).service).toEqual(service);
  });

  it('names the field of each problem', () => {
    expect(problems({ Name: 'db', Port: 1, Policy: 'leader', Voters: 4 })).toEqual(['Voters: must be 3 or 5']);
    expect(problems({ Name: 'db', Port: 1, Voters: 3 })).toEqual(['Voters: applies only to "Policy": "leader"']);
    expect(problems({ Name: 'db', Port: 1, Policy: 'active-active', OnPromote: { Args: ['x'] } })).toEqual([
      'OnPromote: applies only to "Policy": "leader"',
    ]);
    expect(problems({ Name: 'db', Port: 1, Policy: 'leader', OnPromote: { Args: [] } })).toContain(
      'OnPromote.Args: must hold the command and its arguments',
    );
    expect(problems({ Name: 'db', Port: 1, Policy: 'leader', OnDemote: { Args: ['x'], Timeout: 'soon' } })).toEqual([
      'OnDemote.Timeout: "soon" is not a duration (expected e.g. "10s", "1m30s", "500ms")',
    ]);
    expect(problems({ Name: 'db', Port: 1, Policy: 'boss' })).toEqual([
      'Policy: must be one of active-passive, active-active, leader',
    ]);
  });
});

describe('hooks over HTTP', () => {
  const dirs: string[] = [];
  const registries: ServiceRegistry[] = [];
  afterEach(async () => {
    for (const r of registries.splice(0)) await r.stop();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function open(enableExecChecks: boolean): Promise<ServiceRegistry> {
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-policy-'));
    dirs.push(dataDir);
    const r = await ServiceRegistry.open({
      dataDir,
      node: 'a',
      zone: 'z',
      log: pino({ level: 'silent' }),
      enableExecChecks,
    });
    registries.push(r);
    return r;
  }

  const withHook = parseServiceRegistration({ Name: 'db', Port: 1, Policy: 'leader', OnPromote: { Args: ['true'] } });
  const withoutHook = parseServiceRegistration({ Name: 'db', Port: 1, Policy: 'leader' });

  it('need --enable-exec-checks, as exec checks do', async () => {
    const r = await open(false);
    await expect(r.register(withHook)).rejects.toMatchObject({ statusCode: 403, message: /--enable-exec-checks/ });
    await r.register(withoutHook);
    await r.register(withHook, { source: 'config' });
    expect(r.listServices().map((s) => s.service.election?.onPromote?.args)).toEqual([['true']]);
  });

  it('are accepted when the flag is on', async () => {
    const r = await open(true);
    await r.register(withHook);
    expect(r.listServices()[0]?.service.policy).toBe('leader');
  });
});
