import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/config-error.ts';
import { loadConfig, redactConfig } from '../src/config/load.ts';
import { definitionsIn, mergeConfiguredServices, readServicesDir } from '../src/services/config-services.ts';
import { DefinitionError, parseServiceRegistration } from '../src/services/registration.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-config-services-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError || err instanceof DefinitionError) return [...err.problems];
    throw err;
  }
  throw new Error('expected an error');
}

describe('services in the agent configuration', () => {
  it('parses the config file services list with the API rules', async () => {
    const file = join(dir, 'agent.json');
    await writeFile(file, JSON.stringify({ services: [{ name: 'db', port: 5432, check: { ttl: '30s' } }] }));
    const config = loadConfig({ flags: {}, env: {}, configFile: file });
    expect(config.services).toHaveLength(1);
    expect(config.services[0]?.service).toMatchObject({ id: 'db', port: 5432 });
    expect(config.services[0]?.checks[0]).toMatchObject({ id: 'service:db', type: 'ttl' });
    expect(redactConfig(config).services).toEqual(['db']);

    await writeFile(file, JSON.stringify({ services: [{ Name: 'db', Port: 0 }] }));
    expect(problems(() => loadConfig({ flags: {}, env: {}, configFile: file }))).toEqual([
      'agent.json: services.0 Port: must be between 1 and 65535',
    ]);
    await writeFile(file, JSON.stringify({ services: { Name: 'db' } }));
    expect(problems(() => loadConfig({ flags: {}, env: {}, configFile: file }))).toEqual([
      'agent.json: services must be a list of service definitions',
    ]);
  });

  it('reads --enable-exec-checks from a flag, VIGIL_ENABLE_EXEC_CHECKS or the file', async () => {
    expect(loadConfig({ flags: {}, env: {} }).enableExecChecks).toBe(false);
    expect(loadConfig({ flags: { 'enable-exec-checks': true }, env: {} }).enableExecChecks).toBe(true);
    expect(loadConfig({ flags: {}, env: { VIGIL_ENABLE_EXEC_CHECKS: 'true' } }).enableExecChecks).toBe(true);
    expect(problems(() => loadConfig({ flags: {}, env: { VIGIL_ENABLE_EXEC_CHECKS: 'sure' } }))).toEqual([
      'VIGIL_ENABLE_EXEC_CHECKS: must be true or false',
    ]);
    const file = join(dir, 'agent.json');
    await writeFile(file, JSON.stringify({ enable_exec_checks: true }));
    expect(loadConfig({ flags: {}, env: {}, configFile: file }).enableExecChecks).toBe(true);
  });

  it('takes the ACL token from --acl-token, VIGIL_ACL_TOKEN or acl_token, and never shows it', () => {
    expect(loadConfig({ flags: {}, env: { VIGIL_ACL_TOKEN: 'env-tok' } }).aclToken).toBe('env-tok');
    const config = loadConfig({ flags: { 'acl-token': 'flag-tok' }, env: { VIGIL_ACL_TOKEN: 'env-tok' } });
    expect(config.aclToken).toBe('flag-tok');
    expect(JSON.stringify(redactConfig(config))).not.toContain('tok');
    expect(loadConfig({ flags: {}, env: {} }).aclToken).toBeUndefined();
  });
});

describe('services_dir', () => {
  it('reads every JSON file in name order, in any of the accepted shapes', async () => {
    const services = join(dir, 'services.d');
    await mkdir(services);
    await writeFile(join(services, 'a.json'), JSON.stringify({ Name: 'a', Port: 1 }));
    await writeFile(join(services, 'b.json'), JSON.stringify({ service: { name: 'b', port: 2 } }));
    await writeFile(
      join(services, 'c.json'),
      JSON.stringify({
        services: [
          { Name: 'c1', Port: 3 },
          { Name: 'c2', Port: 4 },
        ],
      }),
    );
    await writeFile(join(services, 'd.json'), JSON.stringify([{ Name: 'd', Port: 5 }]));
    await writeFile(join(services, 'notes.txt'), 'ignored');
    expect(readServicesDir(services).map((r) => r.service.id)).toEqual(['a', 'b', 'c1', 'c2', 'd']);
  });

  it('names the file and the field of each problem', async () => {
    await writeFile(join(dir, 'web.json'), JSON.stringify({ service: { Name: 'web', Port: 99999 } }));
    await writeFile(join(dir, 'broken.json'), '{');
    const found = problems(() => readServicesDir(dir));
    expect(found).toHaveLength(2);
    expect(found[0]).toMatch(/broken\.json: /);
    expect(found[1]).toBe(`${join(dir, 'web.json')}: service.Port: must be between 1 and 65535`);
    expect(problems(() => readServicesDir(join(dir, 'missing')))[0]).toMatch(/^services_dir: cannot read/);
  });

  it('refuses an ID defined twice across the configuration', () => {
    const a = [parseServiceRegistration({ Name: 'x', Port: 1 })];
    expect(problems(() => mergeConfiguredServices(a, a))).toEqual([
      'service ID "x" is defined twice in the configuration',
    ]);
  });

  it('recognises the document shapes', () => {
    expect(definitionsIn([{ a: 1 }]).items).toEqual([{ a: 1 }]);
    expect(definitionsIn({ Service: { a: 1 } }).items).toEqual([{ a: 1 }]);
    expect(definitionsIn({ services: [{ a: 1 }, { b: 2 }] }).path(1)).toBe('services[1].');
    expect(definitionsIn({ Name: 'x' }).items).toEqual([{ Name: 'x' }]);
  });
});
