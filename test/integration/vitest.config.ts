import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { sourceConditions } from '../../vitest.source.ts';

/**
 * Vitest's order (failed first, then longest, then largest), except that the .deb test comes
 * first: CI (.ci/run) lints the package it leaves behind while the rest of the suite runs.
 */
class DebFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const isDeb = (f: TestSpecification) => f.moduleId.endsWith('/deb.test.ts');
    return [...sorted.filter(isDeb), ...sorted.filter((f) => !isDeb(f))];
  }
}

export default defineConfig({
  ...sourceConditions,
  test: {
    // Real processes on a loaded 2-core machine: generous per-test limits, one file at a time.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    fileParallelism: false,
    include: ['**/*.test.ts'],
    sequence: { sequencer: DebFirst },
  },
});
