import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, disposeAllAgents } from './harness/agent-process.ts';
import { HttpTarget } from './harness/http-target.ts';
import { waitFor } from './harness/wait-for.ts';

// What a user gets from npm: the three packages packed as `npm publish` would (prepack builds
// dist/), installed from the tarballs into a project outside the workspace, and used there with
// plain `node`, no flags and no sources. Node 22 (the oldest we support) and Node 20 (refused by the
// bin) come from the registry's `node` package; Node 24 is the repository's.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGES = ['protocol', 'sdk', 'agent'] as const;
const { version: VERSION } = JSON.parse(await readFile(join(ROOT, 'packages/agent/package.json'), 'utf8')) as {
  version: string;
};
const NODE24 = process.execPath;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion; the npm_* variables of the npm running this test stay out. */
function run(file: string, args: readonly string[], cwd: string, opts: { path?: string; timeoutMs?: number } = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_')));
  env.PATH = [opts.path ?? dirname(NODE24), env.PATH].join(delimiter);
  return new Promise<Run>((resolve, reject) => {
    execFile(file, args, { cwd, env, timeout: opts.timeoutMs ?? 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      if (err && code === -1) reject(new Error(`${file} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve({ code, stdout, stderr });
    });
  });
}

/**
 * npm itself: the one running this test when there is one, else the one on PATH. Packing builds
 * three packages and installing unpacks libp2p's tree: minutes, not seconds, on a loaded 2-core
 * host (an install took over 60 s in a full run), so npm gets a longer bound than other commands.
 */
function npm(args: readonly string[], cwd: string, opts: { path?: string; npx?: boolean; timeoutMs?: number } = {}) {
  opts = { timeoutMs: 240_000, ...opts };
  const cli = process.env.npm_execpath;
  if (!cli) return run(opts.npx ? 'npx' : 'npm', args, cwd, opts);
  return run(NODE24, [opts.npx ? join(dirname(cli), 'npx-cli.js') : cli, ...args], cwd, opts);
}

async function ok(result: Promise<Run>): Promise<string> {
  const r = await result;
  if (r.code !== 0) throw new Error(`exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const APP_MJS = `import { connect } from '@vigil/sdk';
const mesh = await connect({ agent: process.argv[2] });
const endpoint = mesh.resolve('echo');
const res = await mesh.fetch('http://echo/hello');
console.log(JSON.stringify({ node: process.version, port: endpoint.port, status: res.status, body: await res.text() }));
await mesh.close();
`;

const APP_CJS = `const { connect } = require('@vigil/sdk');
(async () => {
  const mesh = await connect({ agent: process.argv[2] });
  console.log(JSON.stringify({ node: process.version, port: mesh.resolve('echo').port }));
  await mesh.close();
})();
`;

// The expected error proves that the types resolved: were the SDK typed `any`, it would be unused.
const APP_TS = `import { connect, type VigilClient } from '@vigil/sdk';
const mesh: VigilClient = await connect({ agent: 'http://127.0.0.1:7948' });
export const port: number = mesh.resolve('echo').port;
// @ts-expect-error resolve() returns an endpoint, not a string
export const wrong: string = mesh.resolve('echo');
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2023',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noEmit: true,
    // An application brings @types/node; this one borrows the repository's.
    typeRoots: [join(ROOT, 'node_modules/@types')],
    types: ['node'],
  },
  files: ['app.ts'],
};

let work: string;
let app: string;
let node22: string;
let node20: string;
let target: HttpTarget;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vigil-packages-'));
  app = join(work, 'app');
  const runtimes = join(work, 'runtimes');
  const packed = JSON.parse(
    await ok(
      npm(['pack', '--json', '--pack-destination', work, ...PACKAGES.flatMap((p) => ['-w', `packages/${p}`])], ROOT),
    ),
  ) as { filename: string }[];
  expect(packed.map((p) => p.filename)).toEqual(PACKAGES.map((p) => `vigil-${p}-${VERSION}.tgz`));

  await run('mkdir', ['-p', app, runtimes], work);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await writeFile(join(runtimes, 'package.json'), JSON.stringify({ private: true, allowScripts: { node: true } }));
  const install = ['install', '--no-audit', '--no-fund', '--prefer-offline'];
  await Promise.all([
    ok(npm([...install, ...packed.map((p) => join(work, p.filename))], app)),
    ok(npm([...install, 'node22@npm:node@22', 'node20@npm:node@20'], runtimes)),
  ]);
  node22 = join(runtimes, 'node_modules/node22/bin');
  node20 = join(runtimes, 'node_modules/node20/bin');
  await writeFile(join(app, 'app.mjs'), APP_MJS);
  await writeFile(join(app, 'app.cjs'), APP_CJS);
  await writeFile(join(app, 'app.ts'), APP_TS);
  await writeFile(join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG));
  target = await HttpTarget.start();
}, 540_000);

afterAll(async () => {
  await disposeAllAgents();
  await target?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the published packages, installed from their tarballs', () => {
  it('installs @vigil/* from the tarballs only, built JavaScript without sources', async () => {
    const lock = JSON.parse(await readFile(join(app, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { resolved?: string }>;
    };
    const vigil = Object.entries(lock.packages).filter(([path]) => /node_modules\/(@vigil\/|vigil$)/.test(path));
    expect(vigil.map(([path, p]) => [path, p.resolved])).toEqual(
      PACKAGES.map((p) => [`node_modules/@vigil/${p}`, `file:../vigil-${p}-${VERSION}.tgz`]).sort(),
    );
    const sdk = JSON.parse(await readFile(join(app, 'node_modules/@vigil/sdk/package.json'), 'utf8'));
    await expect(readFile(join(app, 'node_modules/@vigil/sdk', sdk.exports['.'].default))).resolves.toBeDefined();
    await expect(readFile(join(app, 'node_modules/@vigil/sdk/src/index.ts'))).rejects.toThrow(/ENOENT/);
  });

  it('resolves and fetches a service through a running agent from an ESM app on Node 24 and 22, and CJS', async () => {
    const agent = await AgentProcess.start({
      node: 'pkg',
      bin: join(app, 'node_modules/@vigil/agent/bin/vigil.js'),
    });
    const res = await fetch(`${agent.url}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ Name: 'echo', Port: target.port, Check: { TTL: '1h', Status: 'passing' } }),
    });
    expect(res.status).toBe(200);
    await waitFor('echo routed', async () => {
      const t = await agent.get<{ endpoints: unknown[] }>('/v1/routes/echo');
      return t.status === 200 && t.body.endpoints.length === 1;
    });
    for (const [bin, major] of [
      [dirname(NODE24), 'v24.'],
      [node22, 'v22.'],
    ] as const) {
      const out = JSON.parse(await ok(run(join(bin, 'node'), ['app.mjs', agent.url], app)));
      expect(out).toEqual({ node: expect.stringMatching(major), port: target.port, status: 200, body: 'status 200' });
      const cjs = JSON.parse(await ok(run(join(bin, 'node'), ['app.cjs', agent.url], app)));
      expect(cjs).toEqual({ node: out.node, port: target.port });
    }
    expect(target.requests).toBe(2);
  });

  it('type-checks a TypeScript file that imports @vigil/sdk', async () => {
    const r = await run(join(ROOT, 'node_modules/.bin/tsc'), ['-p', '.'], app);
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.code).toBe(0);
  });

  it('runs the installed agent with npx vigil, and refuses Node 20 in one line', async () => {
    expect(await ok(npm(['vigil', '--version'], app, { npx: true }))).toBe(`vigil ${VERSION}\n`);
    expect(await ok(npm(['vigil', '--version'], app, { npx: true, path: node22 }))).toBe(`vigil ${VERSION}\n`);
    const old = await npm(['vigil', '--version'], app, { npx: true, path: node20 });
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(/^Vigil needs Node >= 22, found v20\.\d+\.\d+\n$/);
  });
});
