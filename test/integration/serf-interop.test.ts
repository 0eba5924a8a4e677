import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { keyFingerprint } from '@vigil/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, disposeAllAgents, runVigil } from './harness/agent-process.ts';
import { disposeAllSerf, SerfProcess } from './harness/serf-process.ts';
import { waitFor } from './harness/wait-for.ts';

// Interoperability with a real HashiCorp Serf (Debian's serf 0.9.4; .ci/run installs it): a mixed
// cluster of 3 Serf and 3 Vigil agents on loopback, in plaintext and with a shared -encrypt key.

afterEach(async () => {
  await disposeAllAgents();
  await disposeAllSerf();
});

interface Member {
  name: string;
  status: string;
  tags: Record<string, string>;
}

const vigilStatus = async (a: AgentProcess, name: string) =>
  (await a.get<Member[]>('/v1/members')).body.find((m) => m.name === name)?.status;

async function mixedCluster(key?: string) {
  const encrypt = key ? ['--encrypt', key] : [];
  const s0 = await SerfProcess.start({ node: 's0', ...(key ? { encrypt: key } : {}) });
  const s1 = await SerfProcess.start({ node: 's1', join: s0.gossipPort, ...(key ? { encrypt: key } : {}) });
  const s2 = await SerfProcess.start({ node: 's2', join: s1.gossipPort, ...(key ? { encrypt: key } : {}) });
  const v = await Promise.all(
    [0, 1, 2].map((i) =>
      AgentProcess.start({
        node: `v${i}`,
        extraArgs: [...encrypt, '--tag', `idx=${i}`, '--join', `127.0.0.1:${[s0, s1, s2][i]!.gossipPort}`],
      }),
    ),
  );
  const serfs = [s0, s1, s2];
  const names = ['s0', 's1', 's2', 'v0', 'v1', 'v2'];
  let missing = '';
  await waitFor(
    'all six agents to list all six members alive',
    async () => {
      const views: [string, { name: string; status: string }[]][] = [];
      for (const s of serfs) views.push([s.node, await s.members()]);
      for (const a of v) views.push([a.node, (await a.get<Member[]>('/v1/members')).body]);
      missing = views
        .map(([who, ms]) => [who, names.filter((n) => ms.find((m) => m.name === n)?.status !== 'alive')] as const)
        .filter(([, gaps]) => gaps.length > 0)
        .map(([who, gaps]) => `${who} lacks ${gaps.join(',')}`)
        .join('; ');
      return missing === '' || undefined;
    },
    // Serf itself can leave a member missing until the next push/pull (30 s) on a loaded host.
    90_000,
    250,
  ).catch((err: Error) => {
    throw new Error(
      `${err.message}: ${missing}\n${[...serfs, ...v].map((a) => `--- ${a.node}\n${a.logs}`).join('\n')}`,
    );
  });
  return { serfs, vigils: v };
}

for (const mode of ['plaintext', 'encrypted'] as const) {
  describe(`mixed Serf + Vigil cluster (${mode})`, () => {
    it('agree on members, detect each other’s crashes, and see graceful leaves as left', async () => {
      const key = mode === 'encrypted' ? Buffer.alloc(32, 9).toString('base64') : undefined;
      const { serfs, vigils } = await mixedCluster(key);
      const [s0, s1, s2] = serfs as [SerfProcess, SerfProcess, SerfProcess];
      const [v0, v1, v2] = vigils as [AgentProcess, AgentProcess, AgentProcess];

      // Tags cross over both ways: Serf reads ours, we read Serf's (none here besides ours).
      const vOnSerf = (await s0.members()).find((m) => m.name === 'v2')!;
      expect(vOnSerf.tags.idx).toBe('2');
      expect(vOnSerf.tags['vigil:peer']).toMatch(/^12D3KooW/);

      if (mode === 'plaintext') {
        // A Serf query filtered by tag, in Go's regexp syntax (\A, a POSIX class, \z), which
        // JavaScript's RegExp would misread: only v1 and v2 (tags idx=1, idx=2) may ack it. (Serf's
        // CLI keeps one expression per tag, so the test is in one.)
        // Gossip alone carries a Serf query and can miss a member, so a run that lacks v1 or v2
        // is repeated once; no run may bring an ack from anyone else.
        const ask = () => serfQuery(s0, ['-tag', 'idx=\\A[[:space:]12]\\z', 'who-is-there']);
        let acks = await ask();
        if (acks.length < 2) acks = [...new Set([...acks, ...(await ask())])];
        expect(acks.sort()).toEqual(['v1', 'v2']);
      }

      // Crashes, one of each kind, at once.
      await v2.stop('SIGKILL');
      await s2.kill('SIGKILL');
      await waitFor(
        'Serf agents to mark v2 failed and Vigil agents to mark s2 dead',
        async () =>
          (await s0.status('v2')) === 'failed' &&
          (await s1.status('v2')) === 'failed' &&
          (await vigilStatus(v0, 's2')) === 'dead' &&
          (await vigilStatus(v1, 's2')) === 'dead',
        60_000,
        250,
      );

      // Graceful leaves, one of each kind.
      expect((await v1.stop('SIGTERM')).code).toBe(0);
      await s1.leave();
      await waitFor(
        'v1 left on Serf and s1 left on Vigil',
        async () => (await s0.status('v1')) === 'left' && (await vigilStatus(v0, 's1')) === 'left',
        30_000,
        250,
      );
      // Never reported as failed on the way.
      const trail = [s0, s1, v0, v1]
        .map(
          (a) =>
            `--- ${a.node}\n${a.logs
              .split('\n')
              .filter((l) => a === v1 || /v1|s1/.test(l))
              .join('\n')}`,
        )
        .join('\n');
      expect(s0.logs, trail).not.toMatch(/EventMemberFailed: v1/);
      expect(v0.logs, trail).not.toMatch(/"member":"s1"[^\n]*member failed/);
    }, 240_000);
  });
}

describe('a Vigil agent with the wrong key', () => {
  it('cannot join an encrypted Serf cluster, and logs why', async () => {
    const s0 = await SerfProcess.start({ node: 's0', encrypt: Buffer.alloc(32, 9).toString('base64') });
    const v = await AgentProcess.start({
      node: 'intruder',
      extraArgs: ['--encrypt', Buffer.alloc(32, 8).toString('base64'), '--join', `127.0.0.1:${s0.gossipPort}`],
    });
    await waitFor('the failed join in the log', () => /this agent is ALONE: it knew 1 member/.test(v.logs), 20_000);
    expect(v.logs).toMatch(/another gossip key/);
    expect((await s0.members()).map((m) => m.name)).toEqual(['s0']);
    expect((await v.get<Member[]>('/v1/members')).body.map((m) => m.name)).toEqual(['intruder']);
  });
});

describe('live gossip key rotation across Serf and Vigil', () => {
  it('`serf keys` and `vigil keys` rotate every member, and a restarted Vigil agent keeps the new key', async () => {
    const oldKey = Buffer.alloc(32, 9).toString('base64');
    const newKey = Buffer.alloc(32, 5).toString('base64');
    const { serfs, vigils } = await mixedCluster(oldKey);
    const [s0, s1] = serfs as [SerfProcess, SerfProcess, SerfProcess];
    const [v0, v1, v2] = vigils as [AgentProcess, AgentProcess, AgentProcess];
    // Without an ACL token the agents list keys as fingerprints, never as the keys themselves.
    const [oldPrint, newPrint] = [keyFingerprint(oldKey), keyFingerprint(newKey)];
    const localKeys = async (a: AgentProcess) =>
      Object.keys(
        (await a.get<{ Keys: Record<string, number> }[]>('/v1/operator/keyring?local-only=true')).body[0]!.Keys,
      );
    // As serfKeys below: a run whose only fault is an answer lost in transit (a 504 naming the
    // silent members) is repeated, twice at most; any member's refusal is not.
    const vigilKeys = async (a: AgentProcess, ...args: string[]) => {
      let result = await runVigil(['keys', '--http-addr', a.url, ...args]);
      for (let i = 0; i < 2 && /504: .* did not answer in time/.test(result.stderr); i++) {
        result = await runVigil(['keys', '--http-addr', a.url, ...args]);
      }
      return result;
    };

    // 1. Serf installs the new key: its query reaches the Vigil agents, which answer it.
    const install = await serfKeys(s0, '-install', newKey);
    expect(install.code, install.out).toBe(0);
    for (const v of vigils) expect(await localKeys(v)).toEqual([oldPrint, newPrint]);

    // 2. Vigil switches every member, Serf agents included, to the new key.
    const use = await vigilKeys(v1, '--use', newKey);
    expect(use.code, use.stderr).toBe(0);
    expect(use.stdout).toMatch(/primary key on all 6 members/);
    const list = await vigilKeys(v2, '--list', '--json');
    expect(list.code, list.stderr).toBe(0);
    const [entry] = JSON.parse(list.stdout) as { Keys: Record<string, number>; NumResponses: number }[];
    expect(entry!.NumResponses).toBe(6);
    expect(entry!.Keys).toEqual({ [oldPrint]: 6, [newPrint]: 6 });

    // Serf reads our list answers (with the PrimaryKey field Serf 0.9 does not know) as its own.
    const serfList = await serfKeys(s0, '-list');
    expect(serfList.code, `${serfList.out}\n--- s0\n${s0.logs.split('\n').slice(-40).join('\n')}`).toBe(0);
    expect(serfList.out).toMatch(new RegExp(`${newKey.replace(/[+/]/g, '\\$&')}\\s+\\[6/6\\]`));

    // 3. Serf removes the old key everywhere; a key in use cannot be removed.
    const refused = await vigilKeys(v0, '--remove', newKey);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/failed on 6 of 6 members/);
    const remove = await serfKeys(s1, '-remove', oldKey);
    expect(remove.code, remove.out).toBe(0);
    for (const v of vigils) expect(await localKeys(v)).toEqual([newPrint]);
    const saved = JSON.parse(await readFile(join(v0.dataDir, 'local.keyring'), 'utf8'));
    expect(saved).toEqual([newKey]);

    // 4. The cluster still gossips under the new key alone: a restarted agent whose configuration
    //    still names the old key starts from its saved keyring and rejoins.
    expect((await v0.stop('SIGTERM')).code).toBe(0);
    await waitFor('s0 to see v0 leave', async () => (await s0.status('v0')) === 'left', 30_000, 250);
    const again = await AgentProcess.start({
      node: 'v0',
      dataDir: v0.dataDir,
      extraArgs: ['--encrypt', oldKey, '--join', `127.0.0.1:${s0.gossipPort}`],
    });
    await waitFor(
      's0 and v2 to see v0 alive again',
      async () => (await s0.status('v0')) === 'alive' && (await vigilStatus(v2, 'v0')) === 'alive',
      30_000,
      250,
    );
    expect(again.logs).toMatch(/local.keyring/);
    // Our key queries ask for a relay factor of 1: Serf agents decoded the relays they were sent
    // (some certainly came from Vigil agents: 3 queries x 3 Vigil answers, each via 1 of 5 others)
    // and passed them on.
    const serfLogs = serfs.map((s) => s.logs).join('\n');
    expect(serfLogs).toMatch(/Relaying response to addr/);
    expect(serfLogs).not.toMatch(/Error decoding relay header/);
  }, 240_000);
});

/**
 * `serf query` from one Serf agent; returns who acked. Acks travel by UDP; each is also relayed
 * through one other member (-relay-factor 1), so one lost datagram does not fail the test.
 */
async function serfQuery(s: SerfProcess, args: string[]): Promise<string[]> {
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      'serf',
      [
        'query',
        '-format',
        'json',
        '-timeout',
        '2s',
        '-relay-factor',
        '1',
        '-rpc-addr',
        `127.0.0.1:${s.rpcPort}`,
        ...args,
      ],
      (err, stdout, stderr) => (err ? reject(new Error(`serf query: ${err.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
  return (JSON.parse(out) as { Acks: string[] | null }).Acks ?? [];
}

/**
 * `serf keys ...` against one Serf agent. Query answers travel by UDP and Serf's own command fails
 * when one is lost ("5/6 nodes reported success"); that (and only that) is retried, twice at most.
 * A member that answers with an error is never retried.
 */
async function serfKeys(s: SerfProcess, ...args: string[]): Promise<{ code: number; out: string }> {
  let result = { code: 1, out: '' };
  for (let attempt = 0; attempt < 3; attempt++) {
    result = await new Promise((resolve) => {
      execFile('serf', ['keys', ...args, '-rpc-addr', `127.0.0.1:${s.rpcPort}`], (err, stdout, stderr) =>
        resolve({
          code: err ? ((err as { code?: number }).code ?? 1) : 0,
          out: `${stdout}${stderr ? `\n[stderr]\n${stderr}` : ''}${err ? `\n[error] ${err.message}` : ''}`,
        }),
      );
    });
    if (result.code === 0 || !/nodes reported success/.test(result.out)) return result;
  }
  return result;
}
