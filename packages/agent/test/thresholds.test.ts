import { describe, expect, it } from 'vitest';
import { aggregateHealth } from '../src/health/aggregate.ts';
import type { CheckStatus } from '../src/health/status.ts';
import { Thresholds } from '../src/health/thresholds.ts';

const run = (t: Thresholds, statuses: CheckStatus[]) =>
  statuses.map((status) => t.apply({ status, output: status })?.status ?? '-');

describe('Thresholds (Consul semantics)', () => {
  it('passes every result through when the thresholds are 0', () => {
    const t = new Thresholds({ successBeforePassing: 0, failuresBeforeWarning: 0, failuresBeforeCritical: 0 });
    expect(run(t, ['critical', 'passing', 'warning', 'critical'])).toEqual([
      'critical',
      'passing',
      'warning',
      'critical',
    ]);
  });

  it('needs consecutive failures before critical, and a success resets the count', () => {
    const t = new Thresholds({ successBeforePassing: 0, failuresBeforeWarning: 3, failuresBeforeCritical: 3 });
    expect(run(t, ['critical', 'critical', 'passing', 'critical', 'critical', 'critical'])).toEqual([
      '-',
      '-',
      'passing',
      '-',
      '-',
      'critical',
    ]);
  });

  it('needs consecutive successes before passing, and a failure resets the count', () => {
    const t = new Thresholds({ successBeforePassing: 2, failuresBeforeWarning: 0, failuresBeforeCritical: 0 });
    expect(run(t, ['passing', 'critical', 'passing', 'passing', 'warning'])).toEqual([
      '-',
      'critical',
      '-',
      'passing',
      'warning',
    ]);
  });

  it('reports warning between the warning and the critical threshold', () => {
    const t = new Thresholds({ successBeforePassing: 0, failuresBeforeWarning: 1, failuresBeforeCritical: 3 });
    expect(run(t, ['critical', 'critical', 'critical', 'critical'])).toEqual([
      'warning',
      'warning',
      'critical',
      'critical',
    ]);
  });
});

describe('aggregateHealth', () => {
  it('ranks maintenance over critical over warning over passing', () => {
    expect(aggregateHealth([], false)).toBe('passing');
    expect(aggregateHealth(['passing', 'warning'], false)).toBe('warning');
    expect(aggregateHealth(['warning', 'critical', 'passing'], false)).toBe('critical');
    expect(aggregateHealth(['passing'], true)).toBe('maintenance');
    expect(aggregateHealth(['critical'], true)).toBe('maintenance');
  });
});
