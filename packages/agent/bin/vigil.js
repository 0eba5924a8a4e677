#!/usr/bin/env node
// The agent runs its TypeScript sources directly through Node's type stripping (Node >= 22.18),
// so there is no build step between `npm install` and `npx vigil`. Check the version before the
// import so that an old Node fails with advice instead of a syntax error.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `vigil needs Node.js >= 22.18 (this is ${process.version}). ` +
      'Run it through npx or npm scripts from the repository, which use the node@24 dev dependency.\n',
  );
  process.exit(1);
}
// Node's on-disk code cache (in the OS temp folder, keyed by each file's content): an agent starts
// in ~0.55 s instead of ~0.8 s here, and CLI commands gain as much. Best effort: it may be refused.
(await import('node:module')).enableCompileCache?.();
const { main } = await import('../src/cli/main.ts');
// Exit explicitly: a command is done when main returns, whatever handles a library left open.
process.exit(await main(process.argv.slice(2)));
