import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../src/base/duration.ts';
import {
  checkToBody,
  DefinitionError,
  parseCheckRegistration,
  parseServiceRegistration,
  serviceToBody,
} from '../src/services/registration.ts';
import { problemsOf } from './helpers/problems.ts';

const problems = (raw: unknown) => problemsOf(DefinitionError, () => parseServiceRegistration(raw));

describe('durations', () => {
  it('parses Go durations into milliseconds', () => {
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('-1s')).toBe(-1000);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('10')).toBeUndefined();
    expect(parseDuration('ten seconds')).toBeUndefined();
    expect(parseDuration('')).toBeUndefined();
  });

  it('formats them back the way Go prints them', () => {
    for (const ms of [0, 5, 250, 1000, 1500, 90_000, 3_600_000, 3_723_000]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(100)).toBe('100ms');
  });
});

describe('parseServiceRegistration', () => {
  it("accepts Consul's PascalCase shape with Vigil's Priority and Zone", () => {
    const { service, checks } = parseServiceRegistration({
      ID: 'web-1',
      Name: 'web',
      Address: '10.0.0.5',
      Port: 8080,
      Tags: ['v1'],
      Meta: { version: '1.2' },
      Weights: { Passing: 10, Warning: 2 },
      Priority: 1,
      Zone: 'eu-1a',
      Check: { HTTP: 'http://127.0.0.1:8080/health', Interval: '10s', Timeout: '2s', FailuresBeforeCritical: 3 },
    });
    expect(service).toEqual({
      id: 'web-1',
      name: 'web',
      address: '10.0.0.5',
      port: 8080,
      tags: ['v1'],
      meta: { version: '1.2' },
      weights: { passing: 10, warning: 2 },
      priority: 1,
      zone: 'eu-1a',
    });
    expect(checks).toHaveLength(1);
    expect(checks[0]).toMatchObject({
      id: 'service:web-1',
      serviceId: 'web-1',
      type: 'http',
      url: 'http://127.0.0.1:8080/health',
      method: 'GET',
      intervalMs: 10_000,
      timeoutMs: 2000,
      initialStatus: 'critical',
      failuresBeforeCritical: 3,
      failuresBeforeWarning: 3,
      successBeforePassing: 0,
      outputMaxSize: 4096,
    });
  });

  it('accepts snake_case and camelCase keys too, and applies defaults', () => {
    const { service, checks } = parseServiceRegistration({
      name: 'db',
      port: 5432,
      checks: [
        { tcp: '127.0.0.1:5432', interval: '5s', success_before_passing: 2 },
        { ttl: '30s', check_id: 'db-ttl', status: 'passing' },
        { args: ['/bin/true'], interval: '1m', timeout: '5s' },
        { grpc: '127.0.0.1:9000/db', grpcUseTLS: true, interval: '1s' },
      ],
    });
    expect(service).toMatchObject({ id: 'db', weights: { passing: 1, warning: 1 }, priority: 0, address: '' });
    expect(service.zone).toBeUndefined();
    expect(checks.map((c) => [c.id, c.type])).toEqual([
      ['service:db:1', 'tcp'],
      ['db-ttl', 'ttl'],
      ['service:db:3', 'exec'],
      ['service:db:4', 'grpc'],
    ]);
    expect(checks[0]).toMatchObject({ successBeforePassing: 2, timeoutMs: 10_000 });
    expect(checks[1]).toMatchObject({ ttlMs: 30_000, initialStatus: 'passing' });
    expect(checks[2]).toMatchObject({ args: ['/bin/true'], intervalMs: 60_000, timeoutMs: 5000 });
    expect(checks[3]).toMatchObject({ target: '127.0.0.1:9000/db', useTls: true });
  });

  it('takes Weight as a shorthand for Weights.Passing', () => {
    expect(parseServiceRegistration({ Name: 'a', Port: 1, Weight: 5 }).service.weights).toEqual({
      passing: 5,
      warning: 1,
    });
  });

  it('round-trips through the stored body', () => {
    const first = parseServiceRegistration({
      Name: 'api',
      Port: 443,
      Zone: 'z',
      Checks: [
        { HTTP: 'https://localhost/h', Interval: '1s', Header: { 'X-A': 'b' }, TLSSkipVerify: true },
        { TTL: '15s' },
      ],
    });
    const again = parseServiceRegistration({ ...serviceToBody(first.service), Checks: first.checks.map(checkToBody) });
    expect(again).toEqual(first);
  });

  it('names the field in each problem', () => {
    expect(problems({ Port: 80 })).toEqual(['Name: is required']);
    // Durations that become timers stop at Node's limit (2^31-1 ms): longer ones would fire at once.
    const limit = 'must be at most 596h31m23.647s (about 24.8 days, the longest timer Node keeps)';
    expect(problems({ Name: 'web', Port: 80, Check: { TCP: 'a:1', Interval: '1000000h' } })).toEqual([
      `Check.Interval: ${limit}`,
    ]);
    expect(problems({ Name: 'web', Port: 80, Check: { TTL: '600h' } })).toEqual([`Check.TTL: ${limit}`]);
    expect(problems({ Name: 'web', Port: 80, Checks: [{ TCP: 'a:1', Interval: '10s', Timeout: '1000h' }] })).toEqual([
      `Checks[0].Timeout: ${limit}`,
    ]);
    expect(parseServiceRegistration({ Name: 'web', Port: 80, Check: { TTL: '596h' } }).checks[0]!.type).toBe('ttl');
    // Not a timer (the reaper compares it), so a long one is fine.
    expect(
      parseServiceRegistration({
        Name: 'web',
        Port: 80,
        Check: { TTL: '1h', DeregisterCriticalServiceAfter: '10000h' },
      }).checks[0]!.deregisterCriticalServiceAfterMs,
    ).toBe(10_000 * 3_600_000);
    // Names a URL reads as localhost or an IP address would shadow hosts applications mean literally.
    for (const Name of ['localhost', 'LocalHost', 'app.localhost', '127.0.0.1', '10.1', '2130706433', '0x7f']) {
      expect(problems({ Name, Port: 80 }), Name).toEqual([
        'Name: names a host applications mean literally (localhost or an IP address): choose another name',
      ]);
    }
    for (const Name of ['payments', 'pay.v2', 'v1.2.x', '1password']) {
      expect(parseServiceRegistration({ Name, Port: 80 }).service.name).toBe(Name);
    }
    expect(problems({ Name: 'web', Port: 70000 })).toEqual(['Port: must be between 1 and 65535']);
    expect(problems({ Name: 'web', Port: 0 })).toEqual(['Port: must be between 1 and 65535']);
    expect(problems({ Name: 'web', Port: '80' })).toEqual(['Port: must be a number']);
    expect(problems({ Name: 'web' })).toEqual(['Port: is required']);
    expect(problems({ Name: 'web', Port: 80, Check: { HTTP: 'http://x/', Interval: '-5s' } })).toEqual([
      'Check.Interval: must be a positive duration',
    ]);
    expect(problems({ name: 'web', port: 80, checks: [{ http: 'http://x/', interval: 'soon' }] })).toEqual([
      'checks[0].interval: "soon" is not a duration (expected e.g. "10s", "1m30s", "500ms")',
    ]);
    expect(problems({ Name: 'web', Port: 80, Checks: [{ TTL: '1s' }, { Interval: '1s' }] })).toEqual([
      'Checks[1]: has no check type: give one of HTTP, TCP, Args (exec), TTL or GRPC',
    ]);
    expect(problems({ Name: 'web', Port: 80, Checks: [{ UDP: '127.0.0.1:53', Interval: '1s' }] })).toEqual([
      'Checks[0].UDP: unsupported check type UDP (supported: HTTP, TCP, Args, TTL, GRPC)',
    ]);
    expect(problems({ Name: 'web', Port: 80, Check: { Type: 'docker', Interval: '1s', HTTP: 'http://x/' } })).toEqual([
      'Check.Type: unknown check type "docker" (supported: http, tcp, exec, ttl, grpc)',
    ]);
    expect(problems({ Name: 'web', Port: 80, Check: { HTTP: 'http://x/' } })).toEqual([
      'Check.Interval: is required for HTTP checks',
    ]);
    expect(problems({ Name: 'web', Port: 80, Check: { HTTP: 'ftp://x/', Interval: '1s' } })).toEqual([
      'Check.HTTP: must be an http:// or https:// URL',
    ]);
    expect(problems({ Name: 'web', Port: 80, Check: { TCP: 'nohost', Interval: '1s' } })[0]).toMatch(
      /^Check\.TCP: "nohost" has no port/,
    );
    expect(problems({ Name: 'web', Port: 80, Check: { HTTP: 'http://x/', TCP: 'a:1', Interval: '1s' } })).toEqual([
      'Check: has more than one check type (HTTP, TCP); give exactly one',
    ]);
    expect(problems({ Name: 'web', Port: 80, Colour: 'blue' })).toEqual(['Colour: unknown field']);
    expect(problems({ Name: 'bad name', Port: 80 })[0]).toMatch(/^Name: may hold only/);
    expect(problems({ Name: 'web', Port: 80, Priority: -1 })).toEqual(['Priority: must be between 0 and 1000']);
    expect(problems({ Name: 'web', Port: 80, Check: { TTL: '5s', FailuresBeforeCritical: 2 } })).toEqual([
      'Check.FailuresBeforeCritical: does not apply to TTL checks',
    ]);
    expect(
      problems({
        Name: 'web',
        Port: 80,
        Check: { TCP: 'a:1', Interval: '1s', FailuresBeforeWarning: 3, FailuresBeforeCritical: 2 },
      }),
    ).toEqual(['Check.FailuresBeforeWarning: must not be greater than FailuresBeforeCritical (2)']);
    expect(
      problems({
        Name: 'web',
        Port: 80,
        Checks: [
          { TTL: '1s', CheckID: 'x' },
          { TTL: '1s', ID: 'x' },
        ],
      }),
    ).toEqual(['Checks[1].ID: "x" is used by another check']);
    expect(problems({ Name: 'web', Port: 80, Check: { TCP: 'a:1', Interval: '10ms' } })).toEqual([
      'Check.Interval: must be at least 100ms',
    ]);
    expect(problems({ Name: 'web', Port: 80, Connect: { Native: true } })).toEqual([
      'Connect: Consul Connect is not supported by Vigil',
    ]);
    expect(problems([])).toEqual(['body: must be a JSON object']);
  });

  it('raises DeregisterCriticalServiceAfter to the floor', () => {
    const { checks } = parseServiceRegistration(
      { Name: 'a', Port: 1, Check: { TTL: '1s', DeregisterCriticalServiceAfter: '10s' } },
      { minDeregisterAfterMs: 60_000 },
    );
    expect(checks[0]!.deregisterCriticalServiceAfterMs).toBe(60_000);
  });
});

describe('parseCheckRegistration', () => {
  it('needs a Name and defaults the ID to it', () => {
    expect(parseCheckRegistration({ Name: 'mem', TTL: '10s' })).toMatchObject({ id: 'mem', serviceId: undefined });
    expect(parseCheckRegistration({ Name: 'mem', ID: 'm1', ServiceID: 'web', TTL: '10s' })).toMatchObject({
      id: 'm1',
      serviceId: 'web',
    });
    expect(() => parseCheckRegistration({ TTL: '10s' })).toThrow('Name: is required');
    expect(() => parseCheckRegistration({ Name: 'x', UDP: 'a:1' })).toThrow(
      'UDP: unsupported check type UDP (supported: HTTP, TCP, Args, TTL, GRPC)',
    );
  });
});
