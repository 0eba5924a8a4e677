// Tests in the repository run the TypeScript sources of @vigil/* (their `vigil-source` export
// condition) so that no build is needed; an installed package resolves to its dist/ instead.
// Vitest runs test files in Vite's server environment, hence `ssr`; Vite's default server
// conditions follow ours.
export const sourceConditions = {
  ssr: { resolve: { conditions: ['vigil-source', 'module', 'node', 'development|production'] } },
};
