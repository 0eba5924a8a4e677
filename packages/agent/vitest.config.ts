import { defineConfig } from 'vitest/config';
import { unitSuite } from '../../vitest.source.ts';

export default defineConfig(unitSuite);
