#!/usr/bin/env node
// Plain JavaScript that any Node since 14 parses (no top-level await, no static import): the
// version check must run before anything modern is loaded, so that an old Node gets one line of
// advice instead of a stack trace.
//
// Two layouts: an installed package runs the build (dist/); the repository, where src/ sits next to
// bin/, runs the TypeScript sources through Node's type stripping (>= 22.18), with the
// `vigil-source` export condition so that @vigil/* resolve to their sources too.
var fs = process.getBuiltinModule ? process.getBuiltinModule('node:fs') : null;
var sourceMain = new URL('../src/cli/main.ts', import.meta.url);
var fromSource = fs?.existsSync(sourceMain);
var needed = fromSource ? '22.18' : '22';
var [major, minor] = process.versions.node.split('.').map(Number);
var [neededMajor, neededMinor = 0] = needed.split('.').map(Number);
if (major < neededMajor || (major === neededMajor && minor < neededMinor)) {
  process.stderr.write(`Vigil needs Node >= ${needed}, found ${process.version}\n`);
  process.exit(1);
}
var nodeModule = process.getBuiltinModule('node:module');
// Node's on-disk code cache (NODE_COMPILE_CACHE, else the OS temp folder, keyed by each file's
// content): an agent starts in ~0.55 s instead of ~0.8 s here, and CLI commands gain as much.
// Best effort: it may be refused.
if (nodeModule.enableCompileCache) nodeModule.enableCompileCache();
if (fromSource) {
  nodeModule.registerHooks({
    resolve: (specifier, context, nextResolve) => {
      if (context.conditions.includes('vigil-source')) return nextResolve(specifier, context);
      return nextResolve(specifier, { ...context, conditions: [...context.conditions, 'vigil-source'] });
    },
  });
}
import(fromSource ? sourceMain.href : '../dist/cli/main.js')
  .then((cli) => cli.main(process.argv.slice(2)))
  // Exit explicitly: a command is done when main returns, whatever handles a library left open.
  .then((code) => {
    process.exit(code);
  });
