import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHostPort } from '../src/base/host-port.ts';
import { ConfigError } from '../src/config/config-error.ts';
import { loadConfig, redactConfig } from '../src/config/load.ts';
import { problemsOf } from './helpers/problems.ts';

let dir: string;
let file: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-config-unit-'));
  file = join(dir, 'agent.json');
  await writeFile(file, JSON.stringify({ node: 'from-file', zone: 'z-file', profile: 'wan', join: ['10.0.0.1'] }));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const problems = (fn: () => unknown) => problemsOf(ConfigError, fn);

describe('loadConfig', () => {
  it('applies defaults', () => {
    const config = loadConfig({ flags: {}, env: {} });
    expect(config.bind).toEqual({ host: '0.0.0.0', port: 7946 });
    expect(config.p2p).toEqual({ host: '0.0.0.0', port: 7947 });
    expect(config.http).toEqual({ host: '127.0.0.1', port: 7948 });
    expect(config.profile).toBe('lan');
  });

  it('takes host names for the API from --http-allowed-host and VIGIL_HTTP_ALLOWED_HOSTS, refusing others', () => {
    expect(loadConfig({ flags: { 'http-allowed-host': ['a.example', 'b'] }, env: {} }).httpAllowedHosts).toEqual([
      'a.example',
      'b',
    ]);
    expect(loadConfig({ flags: {}, env: { VIGIL_HTTP_ALLOWED_HOSTS: 'x.internal, y' } }).httpAllowedHosts).toEqual([
      'x.internal',
      'y',
    ]);
    expect(problems(() => loadConfig({ flags: { 'http-allowed-host': ['evil.example/x'] }, env: {} }))).toEqual([
      '--http-allowed-host: must be a DNS host name such as agent.example.internal',
    ]);
  });

  it("refuses a failback hold-down past Node's timer limit", () => {
    expect(problems(() => loadConfig({ flags: { 'failback-hold-down': '1000000h' }, env: {} }))).toEqual([
      '--failback-hold-down: "1000000h" is longer than 596h31m23.647s (about 24.8 days)',
    ]);
    expect(loadConfig({ flags: { 'failback-hold-down': '500h' }, env: {} }).failbackHoldDown).toBe(500 * 3_600_000);
  });

  it('puts libp2p on the gossip bind host unless --p2p says otherwise', () => {
    expect(loadConfig({ flags: { bind: '127.0.0.1:7000' }, env: {} }).p2p).toEqual({ host: '127.0.0.1', port: 7947 });
    expect(loadConfig({ flags: { bind: '[::1]:7000' }, env: {} }).p2p).toEqual({ host: '::1', port: 7947 });
    expect(loadConfig({ flags: { bind: 'localhost' }, env: {} }).p2p).toEqual({ host: '127.0.0.1', port: 7947 });
    expect(loadConfig({ flags: { bind: '127.0.0.1', p2p: '0.0.0.0:9000' }, env: {} }).p2p).toEqual({
      host: '0.0.0.0',
      port: 9000,
    });
  });

  it('layers flags over env over file over defaults', () => {
    const config = loadConfig({
      flags: { node: 'from-flag' },
      env: { VIGIL_NODE: 'from-env', VIGIL_ZONE: 'z-env' },
      configFile: file,
    });
    expect(config.node).toBe('from-flag');
    expect(config.zone).toBe('z-env');
    expect(config.profile).toBe('wan');
    expect(config.join).toEqual([{ host: '10.0.0.1', port: 7946 }]);
  });

  it('reads lists and tags from flags and env', () => {
    const fromFlags = loadConfig({ flags: { join: ['a:1', 'b:2'], tag: ['role=db', 'rack=r1'] }, env: {} });
    expect(fromFlags.join.map((j) => j.port)).toEqual([1, 2]);
    expect(fromFlags.tags).toEqual({ role: 'db', rack: 'r1' });
    const fromEnv = loadConfig({ flags: {}, env: { VIGIL_JOIN: 'a:1, b', VIGIL_TAGS: 'role=web' } });
    expect(fromEnv.join).toEqual([
      { host: 'a', port: 1 },
      { host: 'b', port: 7946 },
    ]);
    expect(fromEnv.tags).toEqual({ role: 'web' });
  });

  it('names the source of each problem', () => {
    expect(problems(() => loadConfig({ flags: { http: '1.2.3.4:0x10' }, env: {} }))).toEqual([
      '--http: "1.2.3.4:0x10" is not a valid port',
    ]);
    expect(problems(() => loadConfig({ flags: {}, env: { VIGIL_NODE: 'bad name!' } }))[0]).toMatch(
      /^VIGIL_NODE: may hold/,
    );
    expect(problems(() => loadConfig({ flags: { node: '' }, env: {} }))[0]).toBe('--node: must not be empty');
  });

  it('takes outlier durations and refuses an ejection no longer than the window', () => {
    const c = loadConfig({ flags: { 'outlier-window': '2s', 'outlier-base-ejection': '5s' }, env: {} });
    expect([c.outlierWindow, c.outlierBaseEjection]).toEqual([2_000, 5_000]);
    expect(problems(() => loadConfig({ flags: { 'outlier-base-ejection': '5s' }, env: {} }))).toEqual([
      '--outlier-base-ejection: must be longer than the outlier window (10000ms)',
    ]);
    expect(problems(() => loadConfig({ flags: {}, env: { VIGIL_OUTLIER_WINDOW: 'soon' } }))[0]).toMatch(
      /^VIGIL_OUTLIER_WINDOW: "soon" is not a duration/,
    );
  });

  it('accepts Serf keys and refuses other lengths', () => {
    const key = Buffer.alloc(16, 1).toString('base64');
    expect(loadConfig({ flags: { encrypt: [key] }, env: {} }).encrypt[0]).toHaveLength(16);
    expect(
      problems(() => loadConfig({ flags: { encrypt: [Buffer.alloc(20).toString('base64')] }, env: {} }))[0],
    ).toMatch(/^--encrypt: is not a base64 AES key of 16, 24 or 32 bytes/);
  });

  it('redacts keys for display', () => {
    const key = Buffer.alloc(32, 3).toString('base64');
    const shown = redactConfig(loadConfig({ flags: { encrypt: [key] }, env: {} }));
    expect(JSON.stringify(shown)).not.toContain(key);
    expect(shown.bind).toBe('0.0.0.0:7946');
  });
});

describe('parseHostPort', () => {
  it('parses v4, v6 and names', () => {
    expect(parseHostPort('127.0.0.1:80')).toEqual({ host: '127.0.0.1', port: 80 });
    expect(parseHostPort('[::1]:7946')).toEqual({ host: '::1', port: 7946 });
    expect(parseHostPort('node-a', 7946)).toEqual({ host: 'node-a', port: 7946 });
    expect(parseHostPort(':80')).toBe('":80" has no host');
    expect(parseHostPort('a:65536')).toBe('"a:65536" is not a valid port');
    expect(parseHostPort('a')).toMatch(/has no port/);
  });
});
