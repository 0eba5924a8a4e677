// `vigil routes` shows a running failback hold-down and when it ends.

import { describe, expect, it } from 'vitest';
import { renderTable } from '../src/cli/routes-command.ts';
import { inst, oneEach, route, table } from './routing-fixtures.ts';

describe('vigil routes', () => {
  it('shows a failback held down, until when, and nothing once it has ended', () => {
    const at = Date.UTC(2026, 0, 1, 12, 0, 0);
    const records = oneEach(inst('p0', { recoveredAt: at }), inst('b0', { priority: 1 }));
    const held = table(route(records, { now: at + 7_000 }));
    expect(renderTable(held, at + 7_000)).toContain(
      'failback to tier 0 held down until 2026-01-01T12:00:30.000Z (23s)',
    );
    const done = table(route(records, { now: at + 30_000 }));
    expect(renderTable(done, at + 30_000)).not.toContain('held down');
  });
});
