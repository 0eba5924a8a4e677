import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/config-error.ts';
import { loadConfig, redactConfig } from '../src/config/load.ts';
import { problemsOf } from './helpers/problems.ts';

const problems = (fn: () => unknown) => problemsOf(ConfigError, fn);

describe('DNS configuration', () => {
  it("defaults to Consul's 127.0.0.1:8600, zone vigil, TTL 0", () => {
    const config = loadConfig({ flags: {}, env: {} });
    expect(config.dns).toEqual({ host: '127.0.0.1', port: 8600 });
    expect(config.domain).toBe('vigil');
    expect(config.dnsTtl).toBe(0);
    expect(redactConfig(config).dns).toBe('127.0.0.1:8600');
  });

  it('takes flags and environment; "off" turns DNS off', () => {
    const config = loadConfig({ flags: { dns: 'off', domain: 'Mesh.Example.', 'dns-ttl': '5s' }, env: {} });
    expect(config.dns).toBeNull();
    expect(config.domain).toBe('mesh.example');
    expect(config.dnsTtl).toBe(5);
    expect(redactConfig(config).dns).toBe('off');
    expect(loadConfig({ flags: {}, env: { VIGIL_DNS: '127.0.0.2' } }).dns).toEqual({ host: '127.0.0.2', port: 8600 });
  });

  it('names the field of a bad value', () => {
    expect(problems(() => loadConfig({ flags: { dns: '127.0.0.1:99999' }, env: {} }))).toEqual([
      '--dns: "127.0.0.1:99999" is not a valid port (or "off" to turn DNS off)',
    ]);
    expect(problems(() => loadConfig({ flags: { domain: 'bad..zone' }, env: {} }))[0]).toMatch(
      /^--domain: must be a domain/,
    );
    expect(problems(() => loadConfig({ flags: {}, env: { VIGIL_DNS_TTL: 'soon' } }))[0]).toMatch(
      /^VIGIL_DNS_TTL: "soon"/,
    );
  });
});
