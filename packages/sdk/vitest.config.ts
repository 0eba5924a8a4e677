import { defineConfig } from 'vitest/config';
import { sourceConditions } from '../../vitest.source.ts';

export default defineConfig(sourceConditions);
