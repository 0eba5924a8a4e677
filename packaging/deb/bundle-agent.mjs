// The agent as one bundle for the .deb: Node then loads a dozen files instead of 875.
//
//   node bundle-agent.mjs <dist/cli/main.js of the installed agent> <output folder>
//
// (scripts/package-deb.sh runs it.)
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'rolldown';

const [input, dir] = process.argv.slice(2);
if (!input || !dir) throw new Error('usage: bundle-agent.mjs INPUT OUT_DIR');

/**
 * Fastify's server.js requires node:https and node:http2 when it loads, for servers the agent never
 * creates (its API is plain HTTP): http2 alone is 12-18 ms of CPU on the way to /readyz, and with
 * tls and https ~20-40 ms (bench:startup, 4 alternating pairs, loaded 2-core host). Here they load
 * at first use instead. A fastify whose server.js no longer reads them this way fails the build,
 * rather than silently loading them again.
 */
const lazyFastifyTls = {
  name: 'vigil-lazy-fastify-tls',
  transform(code, id) {
    if (!id.replaceAll('\\', '/').endsWith('/node_modules/fastify/lib/server.js')) return null;
    let out = code;
    for (const [name, module] of [
      ['https', 'node:https'],
      ['http2', 'node:http2'],
    ]) {
      const eager = `const ${name} = require('${module}')\n`;
      if (!out.includes(eager)) throw new Error(`fastify/lib/server.js no longer has: ${eager.trim()}`);
      out = out.replace(eager, `const ${name} = new Proxy({}, { get: (_, key) => require('${module}')[key] })\n`);
    }
    return { code: out, map: null };
  },
};

/**
 * What fastify requires only when asked for what the agent never does: the JSON-schema compilers
 * (ajv, fast-json-stringify; the agent validates with zod and refuses route schemas, see
 * http/server.ts) and inject() (light-my-request). Bundled, their ~600 kB of source would sit in
 * every agent's memory unused; left out, they stay in node_modules and load from there if ever
 * asked for.
 */
const NEVER_USED_BY_THE_AGENT = ['@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler', 'light-my-request'];

await build({
  input,
  platform: 'node',
  plugins: [lazyFastifyTls],
  external: NEVER_USED_BY_THE_AGENT,
  output: {
    format: 'esm',
    dir,
    entryFileNames: 'cli/main.js',
    chunkFileNames: 'chunks/[name]-[hash].js',
    // V8 keeps each module's source for as long as the process runs, one byte a character if every
    // character is Latin-1, else two: a single `—` in a comment doubled the 3 MB agent chunk's
    // 6.2 MiB in every agent (measured in /proc/PID/smaps). Non-ASCII is escaped, and the comments
    // that would keep it (JSDoc) go; licence comments stay.
    charset: 'ascii',
    comments: { legal: true, annotation: false, jsdoc: false },
  },
});

for (const file of await readdir(dir, { recursive: true })) {
  if (!file.endsWith('.js')) continue;
  const wide = /[\u0100-\uffff]/.exec(await readFile(join(dir, file), 'utf8'));
  if (wide)
    throw new Error(`${file} holds ${JSON.stringify(wide[0])}: V8 would keep its source at two bytes a character`);
}
