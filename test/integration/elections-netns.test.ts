import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VIGIL_BIN } from './harness/agent-process.ts';
import { disposeLab, NetnsAgent, NetnsLab } from './harness/netns.ts';
import { waitFor } from './harness/wait-for.ts';

// A 3-voter group on three hosts in network namespaces (h0 on one switch, h1 and h2 on the other).
// The leader is moved to h0 (graceful step-down), then h0 is cut off into the minority. Hooks and
// lock commands append "<what> <node> <ns>" to one file on the shared host clock, so the order of
// the old leader's last act and the new leader's first is read off one timeline: h0's OnDemote
// must have finished, and its lock command stopped ticking, before h1 or h2 promotes. After the
// link returns there is still one leader, and h0 does not take over again. Needs root and iproute2
// and curl; without them the test fails saying so, it never skips.

const execFileP = promisify(execFile);
const SIDES = [0, 1, 1] as const;
const NAMES = SIDES.map((_, i) => `h${i}`);
const KEY = Buffer.alloc(32, 9).toString('base64');

let lab: NetnsLab | undefined;
const agents: NetnsAgent[] = [];
const holders: ChildProcess[] = [];
let dir = '';
let timeline = '';

interface GroupView {
  leader?: string;
  token: number;
  role?: string;
  acting?: string;
  voters: { node: string }[];
}

async function put(a: NetnsAgent, path: string): Promise<void> {
  await execFileP(
    'ip',
    [
      'netns',
      'exec',
      a.ns,
      'curl',
      '-sS',
      '--fail',
      '--max-time',
      '5',
      '-X',
      'PUT',
      `http://127.0.0.1:${a.httpPort}${path}`,
    ],
    {
      timeout: 10_000,
    },
  );
}

beforeAll(async () => {
  lab = await NetnsLab.create(`vigil-el-${process.pid}`, SIDES);
  dir = await mkdtemp(join(tmpdir(), 'vigil-elect-netns-'));
  timeline = join(dir, 'timeline.txt');
  const hook = join(dir, 'hook.sh');
  await writeFile(hook, `#!/bin/sh\necho "$1 $2 $(date +%s%N) token=$VIGIL_TOKEN" >> ${timeline}\n`, { mode: 0o755 });
  const tick = join(dir, 'tick.sh');
  await writeFile(tick, `#!/bin/sh\nwhile true; do echo "tick $1 $(date +%s%N)" >> ${timeline}; sleep 0.02; done\n`, {
    mode: 0o755,
  });
  const l = lab;
  for (const [i, node] of NAMES.entries()) {
    const config = join(dir, `${node}.json`);
    await writeFile(
      config,
      JSON.stringify({
        services: [
          {
            Name: 'db',
            Port: 5432,
            Policy: 'leader',
            OnPromote: { Args: [hook, 'promote', node], Timeout: '2s' },
            OnDemote: { Args: [hook, 'demote', node], Timeout: '2s' },
          },
        ],
      }),
    );
    const agent = await NetnsAgent.spawn({
      node,
      ns: l.hosts[i]!,
      addr: l.addrs[i]!,
      extraArgs: ['--encrypt', KEY, '--config', config, ...(i === 0 ? [] : ['--join', `${l.addrs[0]}:7946`])],
    });
    agents[i] = agent;
    await agent.waitForHttp();
  }
  // Lock holders on h0 and h1, run inside their hosts' namespaces.
  for (const i of [0, 1]) {
    const child = spawn(
      'ip',
      ['netns', 'exec', l.hosts[i]!, process.execPath, VIGIL_BIN, 'lock', 'cron', '--', tick, NAMES[i]!],
      { stdio: 'ignore' },
    );
    holders.push(child);
  }
}, 90_000);

afterAll(async () => {
  const errors: unknown[] = [];
  // Each lock holder stops its command before it exits: wait for that (a second at most), not longer.
  const running = holders.filter((h) => h.exitCode === null && h.signalCode === null);
  const exited = running.map((h) => new Promise((r) => h.once('exit', r)));
  for (const h of running) h.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(exited), new Promise((r) => (timer = setTimeout(r, 1_000)))]);
  clearTimeout(timer);
  try {
    await disposeLab(agents, lab, errors);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 30_000);

interface Line {
  what: string;
  node: string;
  ns: bigint;
}

async function lines(): Promise<Line[]> {
  return (await readFile(timeline, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [what, node, ns] = l.split(' ');
      return { what: what!, node: node!, ns: BigInt(ns!) };
    });
}

function logsOnFailure(err: Error): never {
  throw new Error(`${err.message}\n${agents.map((a) => `--- ${a.node}\n${a.logs.slice(-3000)}`).join('\n')}`);
}

/** Moves the leadership of `group` to h0 by a graceful step-down on the current leader's agent. */
async function leadOnH0(group: string): Promise<void> {
  const h0 = agents[0]!;
  await waitFor(
    `h0 leading ${group}`,
    async () => {
      const g = await h0.get<GroupView>(`/v1/elections/${group}`);
      if (g.leader === 'h0' && g.acting === 'acting') return true;
      if (g.leader !== undefined && g.leader !== 'h0') {
        const leader = agents.find((a) => a.node === g.leader)!;
        await put(leader, `/v1/elections/${group}/step-down?to=h0`).catch(() => {});
      }
      return false;
    },
    60_000,
    500,
  );
}

describe('a 3-voter group in network namespaces', () => {
  it('the cut-off leader demotes before the majority promotes; after healing it does not take over', async () => {
    const l = lab!;
    await waitFor(
      'the db and cron groups with three voters',
      async () => {
        const db = await agents[0]!.get<GroupView>('/v1/elections/db');
        const cron = await agents[0]!.get<GroupView>('/v1/elections/cron');
        return db.voters.length === 3 && cron.voters.length === 3 && db.leader && cron.leader;
      },
      90_000,
      500,
    ).catch(logsOnFailure);
    await leadOnH0('db').catch(logsOnFailure);
    await leadOnH0('cron').catch(logsOnFailure);
    await waitFor('h0 ticking', async () => (await lines()).some((x) => x.what === 'tick' && x.node === 'h0'), 30_000);

    const cutAt = (await lines()).length;
    await l.cut();
    const promoted = await waitFor(
      'a majority host promoted and its lock command ticking',
      async () => {
        const after = (await lines()).slice(cutAt);
        const p = after.find((x) => x.what === 'promote' && x.node !== 'h0');
        const t = after.find((x) => x.what === 'tick' && x.node !== 'h0');
        return p && t ? { p, t } : undefined;
      },
      60_000,
      200,
    ).catch(logsOnFailure);
    const all = await lines();
    const h0Demote = all.slice(cutAt).find((x) => x.what === 'demote' && x.node === 'h0');
    expect(h0Demote, 'h0 ran OnDemote after the cut').toBeDefined();
    expect(h0Demote!.ns < promoted.p.ns).toBe(true);
    const lastH0Tick = all.filter((x) => x.what === 'tick' && x.node === 'h0').at(-1)!;
    expect(lastH0Tick.ns < promoted.t.ns).toBe(true);

    await l.heal();
    const newLeader = promoted.p.node;
    // Held long enough for h0 to rejoin, hear the group and (wrongly) try to take over.
    await new Promise((r) => setTimeout(r, 15_000));
    const views = await Promise.all(agents.map((a) => a.get<GroupView>('/v1/elections/db')));
    expect(views.filter((v) => v.acting === 'acting').length).toBe(1);
    expect(views.map((v) => v.leader)).toEqual([newLeader, newLeader, newLeader]);
    const afterHeal = (await lines()).filter((x) => x.node === 'h0' && x.what === 'promote' && x.ns > promoted.p.ns);
    expect(afterHeal).toEqual([]);
  }, 240_000);
});
