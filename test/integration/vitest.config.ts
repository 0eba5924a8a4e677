import { defineConfig } from 'vitest/config';
import { sourceConditions } from '../../vitest.source.ts';

export default defineConfig({
  ...sourceConditions,
  test: {
    // Real processes on a loaded 2-core machine: generous per-test limits, one file at a time.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    fileParallelism: false,
    include: ['**/*.test.ts'],
  },
});
