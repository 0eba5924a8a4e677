// Tests in the repository run the TypeScript sources of @vigil/* (their `vigil-source` export
// condition) so that no build is needed; an installed package resolves to its dist/ instead.
// Vitest runs test files in Vite's server environment, hence `ssr`; Vite's default server
// conditions follow ours.
export const sourceConditions = {
  ssr: { resolve: { conditions: ['vigil-source', 'module', 'node', 'development|production'] } },
};

// The unit suites (agent, protocol, SDK). Vitest's default for `run` is one worker fewer than the
// cores: a single worker on CI's 2-core machine. Their files are virtual-time simulations (pure
// CPU) or wait on loopback sockets, and none asserts wall-clock timing, so two files at once nearly
// halve the wall time. The integration suite keeps one file at a time (real processes).
export const unitSuite = { ...sourceConditions, test: { maxWorkers: 2 } };
