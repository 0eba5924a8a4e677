import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect, type VigilClient } from '@vigil/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, disposeAllAgents, runVigil, VIGIL_BIN } from './harness/agent-process.ts';
import { freePort } from './harness/free-port.ts';
import { waitFor } from './harness/wait-for.ts';

// Elections with real agents and real processes on loopback: a two-host pair plus a witness fails
// over when the primary's host dies (SDK traffic sees no failure), and `vigil lock` stops its
// command before another holder's starts when the holder's agent is SIGKILLed. The partition
// cases run in network namespaces (elections-netns.test.ts).

const ECHO = fileURLToPath(new URL('../../scripts/demo/echo-server.ts', import.meta.url));
const KEY = Buffer.alloc(32, 7).toString('base64');
const ARGS = ['--encrypt', KEY];
const exec = promisify(execFile);

const children = new Set<ChildProcess>();
const clients: VigilClient[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  // SIGTERM first: a `vigil lock` then stops its command (own process group) before it exits.
  const exits = [...children].map((c) =>
    c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : Promise.resolve(),
  );
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) killGroup(c.pid, 'SIGTERM');
  await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 5_000))]);
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) killGroup(c.pid, 'SIGKILL');
  children.clear();
  await disposeAllAgents();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // gone
    }
  }
}

async function echo(name: string): Promise<{ port: number; process: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [ECHO, name, String(port)], { stdio: 'ignore' });
  children.add(child);
  await waitFor(`${name} listening`, async () => (await fetch(`http://127.0.0.1:${port}/`)).ok, 10_000, 50);
  return { port, process: child };
}

async function cluster(n: number): Promise<AgentProcess[]> {
  const first = await AgentProcess.start({ node: 'h0', extraArgs: ARGS });
  const join = ['--join', `127.0.0.1:${first.gossipPort}`];
  // One at a time: on a loaded 2-core host, agents starting together can miss the harness's
  // start-up bound.
  const rest: AgentProcess[] = [];
  for (let i = 1; i < n; i++) rest.push(await AgentProcess.start({ node: `h${i}`, extraArgs: [...ARGS, ...join] }));
  return [first, ...rest];
}

interface GroupView {
  leader?: string;
  token: number;
  term: number;
  role?: string;
  acting?: string;
  voters: { node: string }[];
}

describe('elections with real agents', () => {
  it('two hosts and a witness: the standby takes over when the primary host dies; no request fails', async () => {
    const agents = await cluster(3);
    const [h0, h1, h2] = agents as [AgentProcess, AgentProcess, AgentProcess];
    const services = new Map<string, { port: number; process: ChildProcess }>();
    for (const [a, name] of [
      [h0, 'db-h0'],
      [h1, 'db-h1'],
    ] as const) {
      const s = await echo(name);
      services.set(a.node, s);
      const res = await fetch(`${a.url}/v1/agent/service/register`, {
        method: 'PUT',
        body: JSON.stringify({
          Name: 'echo',
          ID: name,
          Port: s.port,
          Policy: 'leader',
          Check: { HTTP: `http://127.0.0.1:${s.port}/health`, Interval: '500ms', Status: 'passing' },
        }),
      });
      expect(res.status).toBe(200);
    }
    // h2 hosts nothing: it is the witness, and the client's agent
    const group = await waitFor(
      'a leader of echo with three voters, seen by the witness',
      async () => {
        const g = (await h2.get<GroupView>('/v1/elections/echo')).body;
        return g.leader !== undefined && g.voters.length === 3 && g.token > 0 ? g : undefined;
      },
      60_000,
    );
    expect(['h0', 'h1']).toContain(group.leader);
    const client = await connect({ agent: h2.url });
    clients.push(client);
    await waitFor('the client to see the leader', () => client.leader('echo')?.node === group.leader, 30_000);
    const leaderAgent = group.leader === 'h0' ? h0 : h1;
    const standby = group.leader === 'h0' ? 'h1' : 'h0';
    const standbyAgent = group.leader === 'h0' ? h1 : h0;

    // The group's KV store: written on the leader's agent, read linearizably on any voter.
    const kv = (a: AgentProcess, key: string, init?: RequestInit & { query?: string }) =>
      fetch(`${a.url}/v1/elections/echo/kv/${key}${init?.query ?? ''}`, init);
    const put = await kv(leaderAgent, 'optime', { method: 'PUT', body: '42' });
    expect(put.status).toBe(200);
    const { index } = (await put.json()) as { index: number };
    const read = (await (await kv(h2, 'optime')).json()) as { Value: string; ModifyIndex: number };
    expect(Buffer.from(read.Value, 'base64').toString()).toBe('42');
    expect(read.ModifyIndex).toBe(index);
    const stale = await kv(leaderAgent, 'optime', { method: 'PUT', body: '43', query: `?cas=${index - 1}` });
    expect(stale.status).toBe(409);
    // A follower takes the write too: it forwards it to the leader (the next test has more).
    const onFollower = await kv(standbyAgent, 'via-follower', { method: 'PUT', body: '44' });
    expect(onFollower.status).toBe(200);
    const big = await kv(leaderAgent, 'big', { method: 'PUT', body: Buffer.alloc(70 * 1024) });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: string }).error).toMatch(/maxValueBytes/);

    const served: string[] = [];
    const failures: string[] = [];
    let running = true;
    const traffic = (async () => {
      while (running) {
        try {
          const res = await client.fetch('http://echo/', { signal: AbortSignal.timeout(5_000) });
          served.push(((await res.json()) as { instance: string }).instance);
        } catch (err) {
          failures.push(`${(err as Error).message} at ${served.length}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await waitFor('traffic on the leader', () => served.filter((s) => s === `db-${group.leader}`).length >= 20);
    await leaderAgent.stop('SIGKILL');
    services.get(leaderAgent.node)!.process.kill('SIGKILL');
    const after = await waitFor(
      'the standby elected, with a higher token',
      async () => {
        const g = (await h2.get<GroupView>('/v1/elections/echo')).body;
        return g.leader === standby && g.token > group.token ? g : undefined;
      },
      60_000,
    );
    // >=: a witness may win first and hand over, so the standby's own token can be higher still.
    await waitFor(
      'the client routing to the new leader',
      () => {
        const l = client.leader('echo');
        return l?.node === standby && l.token >= after.token;
      },
      30_000,
    );
    const before = served.length;
    await waitFor(
      'traffic on the new leader',
      () => served.slice(before).filter((s) => s === `db-${standby}`).length >= 50,
      30_000,
    );
    running = false;
    await traffic;
    expect(failures).toEqual([]);
    // Metrics of the group on the witness.
    const metrics = await (await fetch(`${h2.url}/metrics`)).text();
    expect(metrics).toMatch(/^vigil_election_term\{group="echo"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^vigil_election_leader_changes_total\{group="echo"\} [1-9]\d*$/m);
    // The new leader reads what the old one wrote, and may write on.
    const kept = (await (await kv(standbyAgent, 'optime')).json()) as { Value: string };
    expect(Buffer.from(kept.Value, 'base64').toString()).toBe('42');
    expect((await kv(standbyAgent, 'optime', { method: 'PUT', body: '45', query: `?cas=${index}` })).status).toBe(200);
  }, 150_000);

  it('any agent takes KV writes, CAS and step-down: followers and non-voters forward them to the leader', async () => {
    const agents = await cluster(4);
    const addressOf = (node: string) => `127.0.0.${20 + Number(node.slice(1))}`;
    for (const a of agents.slice(0, 2)) {
      const res = await fetch(`${a.url}/v1/agent/service/register`, {
        method: 'PUT',
        body: JSON.stringify({
          Name: 'kvs',
          ID: `kvs-${a.node}`,
          Address: addressOf(a.node),
          Port: 9,
          Policy: 'leader',
        }),
      });
      expect(res.status).toBe(200);
    }
    // Every agent, the non-voter included, knows the leader (the voters from Raft, the non-voter
    // from the leader's claim in the catalog).
    const group = await waitFor(
      'a leader of kvs with three voters, known to every agent',
      async () => {
        const views = await Promise.all(agents.map(async (a) => (await a.get<GroupView>('/v1/elections/kvs')).body));
        const g = views[0]!;
        const agreed = views.every((v) => v.leader !== undefined && v.leader === g.leader);
        const leaderView = views.find((_, i) => agents[i]!.node === g.leader);
        return agreed && g.voters.length === 3 && leaderView?.acting === 'acting' ? g : undefined;
      },
      60_000,
    );
    const voters = group.voters.map((v) => v.node);
    const byName = (n: string) => agents.find((a) => a.node === n)!;
    const leader = byName(group.leader!);
    const follower = agents.find((a) => voters.includes(a.node) && a.node !== group.leader)!;
    const nonVoter = agents.find((a) => !voters.includes(a.node))!;
    const kv = (a: AgentProcess, query: string, init?: RequestInit) =>
      fetch(`${a.url}/v1/elections/kvs/kv/config${query}`, init);
    // DNS follows the election on every agent: the leader's instance alone, by both names.
    const dnsShows = (node: string) =>
      waitFor(
        `dig on ${nonVoter.node} to answer ${node}'s address`,
        async () => {
          for (const name of ['kvs.service.vigil', 'leader.kvs.service.vigil']) {
            const { stdout } = await exec('dig', ['@127.0.0.1', '-p', String(nonVoter.dnsPort), '+short', name, 'A']);
            if (stdout.trim() !== addressOf(node)) return false;
          }
          return true;
        },
        30_000,
      );
    await dnsShows(group.leader!);

    const put = await kv(follower, '', { method: 'PUT', body: 'v1' });
    expect(put.status).toBe(200);
    const first = ((await put.json()) as { index: number }).index;
    const cas = await kv(nonVoter, `?cas=${first}`, { method: 'PUT', body: 'v2' });
    expect(cas.status).toBe(200);
    const second = ((await cas.json()) as { index: number }).index;
    expect(second).toBeGreaterThan(first);
    // The leader's answers come back unchanged, refusals included.
    const lost = await kv(follower, `?cas=${first}`, { method: 'PUT', body: 'v3' });
    expect(lost.status).toBe(409);
    expect(await lost.json()).toEqual({ error: `cas failed: the key's index is ${second}`, current: second });
    const tooBig = await kv(nonVoter, '', { method: 'PUT', body: Buffer.alloc(70 * 1024) });
    expect(tooBig.status).toBe(413);
    // Read back linearizably on every agent: the leader, a follower (read index), the non-voter
    // (forwarded), and raw with its index.
    for (const a of [leader, follower, nonVoter]) {
      const read = (await (await kv(a, '')).json()) as { Value: string; ModifyIndex: number };
      expect(Buffer.from(read.Value, 'base64').toString(), a.node).toBe('v2');
      expect(read.ModifyIndex).toBe(second);
    }
    const raw = await kv(nonVoter, '?raw');
    expect(await raw.text()).toBe('v2');
    expect(raw.headers.get('x-vigil-index')).toBe(String(second));
    const stale = await kv(nonVoter, '?stale');
    expect(stale.status).toBe(200);
    expect(await (await kv(nonVoter, '', { method: 'DELETE' })).json()).toMatchObject({ ok: true });
    expect((await kv(leader, '')).status).toBe(404);
    const forwards = async (a: AgentProcess, event: string) =>
      Number(
        new RegExp(`^vigil_election_forwards_total\\{event="${event}"\\} (\\d+)$`, 'm').exec(
          await (await fetch(`${a.url}/metrics`)).text(),
        )?.[1],
      );
    expect(await forwards(nonVoter, 'forwarded')).toBeGreaterThanOrEqual(5);
    expect(await forwards(leader, 'served')).toBeGreaterThanOrEqual(7);

    // A graceful switchover asked of a follower's agent moves the lead.
    const to = voters.find((v) => v !== group.leader && ['h0', 'h1'].includes(v))!;
    const asker = follower.node === to ? nonVoter : follower;
    const down = await fetch(`${asker.url}/v1/elections/kvs/step-down?to=${to}`, { method: 'PUT' });
    expect(down.status).toBe(200);
    expect(await down.json()).toEqual({ group: 'kvs', steppedDown: true });
    const after = await waitFor(
      `the lead to move to ${to}`,
      async () => {
        const g = (await byName(to).get<GroupView>('/v1/elections/kvs')).body;
        return g.leader === to && g.acting === 'acting' && g.token > group.token ? g : undefined;
      },
      30_000,
    );
    expect(after.leader).toBe(to);
    await dnsShows(to);
    // The old leader now forwards as well.
    expect((await kv(leader, '', { method: 'PUT', body: 'v4' })).status).toBe(200);
  }, 150_000);

  it('vigil lock: the holder’s command is stopped before another holder’s starts, under SIGKILL of its agent', async () => {
    const agents = await cluster(3);
    const dir = await mkdtemp(join(tmpdir(), 'vigil-lock-'));
    dirs.push(dir);
    const log = join(dir, 'ticks.txt');
    const script = join(dir, 'cmd.sh');
    // Every 20 ms the command appends "<holder> <ns>" with the shared host clock: the ticks show
    // exactly when each holder was still acting.
    await writeFile(script, `#!/bin/sh\nwhile true; do echo "$1 $(date +%s%N)" >> ${log}; sleep 0.02; done\n`, {
      mode: 0o755,
    });
    const holders = agents.slice(0, 2).map((a) => {
      const child = spawn(process.execPath, [VIGIL_BIN, 'lock', 'cron', '--http-addr', a.url, '--', script, a.node], {
        stdio: 'ignore',
        detached: true,
      });
      children.add(child);
      return child;
    });
    const ticks = async () =>
      (await readFile(log, 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const [who, ns] = l.split(' ');
          return { who: who!, ns: BigInt(ns!) };
        });
    const first = await waitFor('one holder acting', async () => (await ticks()).at(-1)?.who, 60_000);
    const holderAgent = agents.find((a) => a.node === first)!;
    // The CLI shows the lock group: a holder leads it (the holder, unless the lead moved since),
    // with a token and three voters.
    const shown = await runVigil(['elections', 'cron', '--json', '--http-addr', agents[2]!.url]);
    expect(shown.code).toBe(0);
    const view = JSON.parse(shown.stdout) as GroupView & { kind: string };
    expect(view.kind).toBe('lock');
    expect(['h0', 'h1']).toContain(view.leader);
    expect(view.token).toBeGreaterThan(0);
    expect(view.voters).toHaveLength(3);
    const text = await runVigil(['elections', '--http-addr', agents[2]!.url]);
    expect(text.stdout).toMatch(/^cron \(lock\) {2}leader=h[01] {2}token=\d+/m);
    const other = first === 'h0' ? 'h1' : 'h0';
    await holderAgent.stop('SIGKILL');
    await waitFor('the other holder acting', async () => (await ticks()).some((t) => t.who === other), 60_000);
    const all = await ticks();
    const otherStart = all.find((t) => t.who === other)!.ns;
    const lastOld = all.filter((t) => t.who === first).at(-1)!.ns;
    expect(lastOld < otherStart).toBe(true);
    // The surviving holder gives its command up cleanly when told to stop.
    const survivor = holders[first === 'h0' ? 1 : 0]!;
    const exited = new Promise((r) => survivor.once('exit', r));
    survivor.kill('SIGTERM');
    await exited;
    const stoppedAt = (await ticks()).length;
    await new Promise((r) => setTimeout(r, 300));
    expect((await ticks()).length).toBe(stoppedAt);
  }, 150_000);
});
