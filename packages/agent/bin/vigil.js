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
// The V8 flags a long-running agent runs with, here so that every way of starting it gets them
// (the unit, `npx vigil agent`, the benchmarks, the tests). Heap sizes can only be chosen when the
// process starts (v8.setFlagsFromString after start-up leaves the young generation at 2 x 32 MiB,
// measured), so the agent command re-executes Node with them in the same process (process.execve:
// same PID for systemd, ~39 ms of CPU). A flag already given (node's command line or NODE_OPTIONS)
// wins. Measured on one idle agent (scripts/bench/startup.ts, RSS after 15-20 s idle, idle CPU):
//   --max-semi-space-size=4   V8 grows the young generation to 2 x 32 MiB at start-up and keeps
//                             it: 161.7 -> 143.5 MiB, idle CPU unchanged (0.73 %). 2 or 1 save
//                             3 MiB more but scavenge often enough to raise idle CPU to 1.13 %.
// Tried and left out (same bench, next to --max-semi-space-size=4 at 119.3 MiB):
//   --v8-pool-size=1 118.2 MiB, and with MALLOC_ARENA_MAX=2 117.3 MiB: within the noise, and one
//   GC helper thread lengthens pauses under load; --single-threaded-gc 133.8 MiB (worse);
//   --max-old-space-size=64 -5 MiB but a hard ceiling a large catalog would crash into;
//   --lite-mode: no WebAssembly, which type stripping and the bundle's as-sha256 need (neither
//   layout starts).
// And, in 5-agent clusters of the bundled agent (90 s idle windows, both clusters side by side,
// shared 2-core host), idle CPU and RSS per agent against --max-semi-space-size=4 alone:
//   --single-threaded-gc -2 % CPU, RSS same; --v8-pool-size=1 -1 % CPU, -2 MiB: within the noise.
//   --single-threaded -5 % CPU, +3.8 MiB (and -3 to -6 % CPU, RSS -0.5 to -1.8 MiB with the idle
//   gossip tick parked): GC and compilation then run on the main thread, whose pauses the stall
//   detector watches; --no-memory-reducer -8 % CPU but +6.8 MiB.
//   --no-opt --no-maglev -7 MiB (file-backed -4.3: less of V8's compilers touched) but +8-13 % CPU.
//   Single agent, RSS after 30 s idle: --max-lazy and --bytecode-old-age=1 no lower (+0.5 MiB).
//   --min-semi-space-size=4: the young generation starts at its final size instead of growing
//   through scavenges, exec to /readyz 601 -> 564 ms and start-up CPU 485 -> 460 ms (medians of 8
//   alternating runs), but it never shrinks at idle: RSS +2.4 and +2.6 MiB per agent (two pairs
//   of 5-agent clusters), paid all the time rather than once per start.
//   Tiering sooner (--invocation-count-for-maglev=40 --invocation-count-for-turbofan=300, a tenth
//   of the defaults: an idle agent's paths run a few times a second and stay in baseline code) and
//   --no-efficiency-mode: main thread 5.7 and 5.9 ms/s against 5.7-6.1 for the three agents
//   without flags in the same encrypted 5-agent cluster (sources, 90 s window): no gain.
var AGENT_NODE_FLAGS = ['--max-semi-space-size=4'];
// And the environment it runs with, read by glibc when the process starts (so it too needs the
// re-exec, or the unit's Environment=). A variable already set wins.
//   MALLOC_ARENA_MAX=2        each of Node's ~10 threads that allocates (V8's workers, libuv's) gets
//                             a malloc arena of its own, and the arenas keep what was freed in them:
//                             4.7-5.4 -> 1.4 MiB of arenas, RSS -2.3 and -3.2 MiB per agent, idle
//                             CPU unchanged (two 5-agent clusters side by side, 2 and 4 min old).
var AGENT_ENV = { MALLOC_ARENA_MAX: '2' };
// The re-exec costs a second Node start (~50 ms of the ~550 ms to /readyz), so the systemd unit puts
// these flags on its ExecStart line, and the variables in its Environment=, and this finds them
// there. Flags are compared by name, as V8 reads them: `_` and `-` are the same and the value may
// follow in the next word; NODE_OPTIONS counts too.
if (process.argv[2] === 'agent' && typeof process.execve === 'function') reexecWith(AGENT_NODE_FLAGS, AGENT_ENV);
function reexecWith(flags, env) {
  var given = process.execArgv.concat((process.env.NODE_OPTIONS || '').split(/\s+/)).map(flagName);
  var missing = flags.filter((flag) => !given.includes(flagName(flag)));
  var unset = Object.keys(env).filter((name) => process.env[name] === undefined);
  if (missing.length === 0 && unset.length === 0) return;
  var added = Object.fromEntries(unset.map((name) => [name, env[name]]));
  process.execve(
    process.execPath,
    [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)],
    Object.assign({}, process.env, added),
  );
}
function flagName(arg) {
  return arg.split('=')[0].replace(/^["']/, '').replaceAll('_', '-');
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
