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
const { main } = await import('../src/cli/main.ts');
// Exit explicitly: a command is done when main returns, whatever handles a library left open.
process.exit(await main(process.argv.slice(2)));
