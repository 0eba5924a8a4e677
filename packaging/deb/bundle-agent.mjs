// The agent as one bundle for the .deb: Node then loads a dozen files instead of 875.
//
//   node bundle-agent.mjs <dist/cli/main.js of the installed agent> <output folder>
//
// (scripts/package-deb.sh runs it.)
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

await build({
  input,
  platform: 'node',
  plugins: [lazyFastifyTls],
  output: {
    format: 'esm',
    dir,
    entryFileNames: 'cli/main.js',
    chunkFileNames: 'chunks/[name]-[hash].js',
  },
});
