import { createRequire } from 'node:module';

// Read at run time by the package's own name (a self-reference through its `exports`), so that it
// resolves from src/, from dist/ and from a bundle of dist/ (the .deb's) alike.
const pkg = createRequire(import.meta.url)('@vigil/agent/package.json') as { version: string };

export const VERSION: string = pkg.version;
