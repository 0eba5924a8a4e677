import { execFile } from 'node:child_process';
import { copyFile, cp, mkdtemp, readdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, disposeAllAgents } from './harness/agent-process.ts';
import { waitFor } from './harness/wait-for.ts';

// The host artifact: scripts/package-deb.sh builds the .deb, which is unpacked into a throwaway root
// (dpkg-deb -x: installing it for real would touch the shared machine's /etc and users, and take
// dpkg's lock). The unit is checked by systemd-analyze, and the unpacked `vigil` runs on the Node the
// package ships, with the shipped configuration and only ports and data directory overridden.
// CI also runs lintian on the package (.ci/run): minutes, too slow for here. So that CI need not build
// the package a second time, the test leaves it in $VIGIL_DEB_OUT when that is set (.ci/run sets it),
// moved in whole under its final name only once built.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const exec = promisify(execFile);
const { version: VERSION } = JSON.parse(await readFile(join(ROOT, 'packages/agent/package.json'), 'utf8')) as {
  version: string;
};

let work: string;
let deb: string;
let root: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vigil-deb-'));
  root = join(work, 'root');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_')));
  const built = await exec(join(ROOT, 'scripts/package-deb.sh'), [join(work, 'out')], {
    env: { ...env, VIGIL_DEB_FLAGS: '-Zgzip -z1' },
    timeout: 240_000,
  });
  deb = built.stdout.trim();
  const keep = process.env.VIGIL_DEB_OUT;
  if (keep) {
    const kept = join(keep, basename(deb));
    await copyFile(deb, `${kept}.part`);
    await rename(`${kept}.part`, kept);
    deb = kept;
  }
  await exec('dpkg-deb', ['-x', deb, root]);
}, 300_000);

afterAll(async () => {
  await disposeAllAgents();
  if (work) await rm(work, { recursive: true, force: true });
});

const field = async (name: string) => (await exec('dpkg-deb', ['-f', deb, name])).stdout.trim();

describe('the .deb', () => {
  it('holds the agent, its Node, the command, the unit and the configuration', async () => {
    expect(deb).toMatch(new RegExp(`/vigil_${VERSION.replaceAll('.', '\\.')}-1_\\w+\\.deb$`));
    expect(await field('Package')).toBe('vigil');
    expect(await field('Depends')).toMatch(/^adduser, libc6 \(>= [\d.]+\)/);
    expect(await readlink(join(root, 'usr/bin/vigil'))).toBe('../lib/vigil/bin/vigil');
    // The agent is bundled (a dozen files for Node to load instead of 875): see package-deb.sh.
    const bundle = join(root, 'usr/lib/vigil/node_modules/@vigil/agent/dist');
    expect((await readdir(join(bundle, 'chunks'))).length).toBeGreaterThan(0);
    await expect(readFile(join(bundle, 'agent.js'))).rejects.toThrow(/ENOENT/);
    // V8 keeps every module's source while the agent runs, at one byte a character only if all are
    // Latin-1; what fastify loads only for route schemas and inject() stays out (bundle-agent.mjs).
    for (const file of await readdir(join(bundle, 'chunks'))) {
      const code = await readFile(join(bundle, 'chunks', file), 'utf8');
      expect(code).not.toMatch(/[\u0100-\uffff]/);
      expect(code).not.toContain('node_modules/ajv/');
      expect(code).not.toContain('node_modules/light-my-request/');
    }
    const shipped = JSON.parse(await readFile(join(root, 'etc/vigil.d/agent.json'), 'utf8'));
    expect(shipped).toMatchObject({ data_dir: '/var/lib/vigil', services_dir: '/etc/vigil.d/services' });
    const control = join(work, 'control');
    await exec('dpkg-deb', ['-e', deb, control]);
    expect((await readFile(join(control, 'conffiles'), 'utf8')).split('\n').filter(Boolean)).toEqual([
      '/etc/vigil.d/agent.json',
      '/etc/vigil.d/services/README',
      '/etc/vigil.d/vigil.env',
    ]);
    const postinst = await readFile(join(control, 'postinst'), 'utf8');
    expect(postinst).toContain('adduser --system --group');
    // Data goes on purge only: the one `rm` of /var/lib/vigil sits in postrm's purge branch.
    const code = (text: string) => text.replace(/^\s*#.*$/gm, '');
    const postrm = code(await readFile(join(control, 'postrm'), 'utf8'));
    expect(postrm.slice(postrm.indexOf('"$1" = purge'))).toContain('rm -rf /var/lib/vigil');
    expect(postrm.slice(0, postrm.indexOf('"$1" = purge'))).not.toContain('/var/lib/vigil');
    for (const script of ['postinst', 'prerm']) {
      expect(code(await readFile(join(control, script), 'utf8'))).not.toMatch(/rm .*\/var\/lib\/vigil/);
    }
  });

  it('has a hardened unit that systemd-analyze verifies', async () => {
    const unit = await readFile(join(root, 'lib/systemd/system/vigil.service'), 'utf8');
    for (const line of [
      'User=vigil',
      'StateDirectory=vigil',
      'ProtectSystem=strict',
      'CapabilityBoundingSet=\n',
      'NoNewPrivileges=yes',
      'Restart=on-failure',
      'ExecReload=/bin/kill -HUP $MAINPID',
    ]) {
      expect(unit).toContain(line);
    }
    // Verified as unpacked: the unit's paths moved into the throwaway root, the man page found there.
    const copy = join(work, 'vigil.service');
    await writeFile(copy, unit.replaceAll('/usr/lib/vigil/', `${root}/usr/lib/vigil/`));
    const verify = await exec('systemd-analyze', ['verify', copy], {
      env: { ...process.env, MANPATH: join(root, 'usr/share/man') },
    });
    expect(`${verify.stdout}${verify.stderr}`).toBe('');
  });

  it('runs the packaged agent with the shipped config: /readyz, a reload on SIGHUP, exit 0 on SIGTERM', async () => {
    const { stdout } = await exec(join(root, 'usr/bin/vigil'), ['--version']);
    expect(stdout).toBe(`vigil ${VERSION}\n`);
    const services = join(work, 'services');
    await cp(join(root, 'etc/vigil.d/services'), services, { recursive: true });
    const agent = await AgentProcess.start({
      node: 'deb',
      execPath: '/bin/sh',
      bin: join(root, 'usr/bin/vigil'),
      extraArgs: ['--config', join(root, 'etc/vigil.d/agent.json'), '--services-dir', services],
    });
    expect(await readlink(`/proc/${agent.child.pid}/exe`)).toBe(join(root, 'usr/lib/vigil/bin/node'));
    // The bin's re-exec gave the agent the unit's malloc setting (bin-node-flags.test.ts).
    await waitFor('the agent re-executed', async () =>
      (await readFile(`/proc/${agent.child.pid}/environ`, 'utf8')).split('\0').includes('MALLOC_ARENA_MAX=2'),
    );
    await waitFor('/readyz 200', async () => (await fetch(`${agent.url}/readyz`)).status === 200);
    // The dashboard's files ship beside the bundled code.
    const ui = await fetch(`${agent.url}/ui/`);
    expect([ui.status, (await ui.text()).includes('<html')]).toEqual([200, true]);

    await writeFile(join(services, 'web.json'), JSON.stringify({ service: { name: 'web', port: 8080 } }));
    agent.child.kill('SIGHUP');
    await waitFor('web registered by the reload', async () => {
      const listed = await agent.get<Record<string, unknown>>('/v1/agent/services');
      return Object.keys(listed.body).join() === 'web';
    });
    expect(await agent.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
