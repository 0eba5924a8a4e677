import { createRequire } from 'node:module';

// Read at run time rather than imported: the build's rootDir is src, and both src/ and dist/ sit one
// level below the package.json that npm ships.
const pkg = createRequire(import.meta.url)('../package.json') as { version: string };

export const VERSION: string = pkg.version;
