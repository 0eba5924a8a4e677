import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, disposeAllAgents, VIGIL_BIN } from './harness/agent-process.ts';
import { waitFor } from './harness/wait-for.ts';

// Consul's agent and status endpoints that tools call first, and `vigil monitor`, on real agents.

afterEach(disposeAllAgents);

describe('Consul agent and status API', () => {
  it("serves /v1/agent/members, /v1/catalog/nodes and /v1/status/leader in Consul's shapes", async () => {
    const a = await AgentProcess.start({ node: 'a', extraArgs: ['--zone', 'west', '--tag', 'role=db'] });
    const b = await AgentProcess.start({ node: 'b', extraArgs: ['--join', `127.0.0.1:${a.gossipPort}`] });
    await waitFor('a to see b', async () => (await a.get<unknown[]>('/v1/agent/members')).body.length === 2);
    const members = (await a.get<Record<string, unknown>[]>('/v1/agent/members')).body;
    expect(members[0]).toMatchObject({ Name: 'a', Addr: '127.0.0.1', Port: a.gossipPort, Status: 1 });
    expect(members[0]?.Tags).toMatchObject({ dc: 'dc1', role: 'db', 'vigil:zone': 'west' });
    expect(Object.keys(members[0] ?? {})).toEqual([
      'Name',
      'Addr',
      'Port',
      'Tags',
      'Status',
      'ProtocolMin',
      'ProtocolMax',
      'ProtocolCur',
      'DelegateMin',
      'DelegateMax',
      'DelegateCur',
    ]);
    // Like every catalog read, 503 until the agent's catalog is in sync.
    const nodes = await waitFor('the catalog in sync', async () => {
      const res = await a.get<Record<string, unknown>[]>('/v1/catalog/nodes');
      return res.status === 200 ? res : undefined;
    });
    expect(nodes.body.map((n) => n.Node)).toEqual(['a', 'b']);
    expect(nodes.body[0]).toMatchObject({ Address: '127.0.0.1', Datacenter: 'dc1', Meta: { role: 'db' } });
    const leader = await fetch(`${a.url}/v1/status/leader`);
    expect(leader.status).toBe(200);
    expect(await leader.text()).toBe('""');
    expect((await a.get('/v1/status/peers')).body).toEqual([]);

    // A crash: Serf's failed status (4) in Consul's member list.
    await b.stop('SIGKILL');
    await waitFor(
      'b failed in /v1/agent/members',
      async () =>
        (await a.get<{ Name: string; Status: number }[]>('/v1/agent/members')).body.find((m) => m.Name === 'b')
          ?.Status === 4,
      60_000,
    );
  });

  it('vigil monitor streams the agent log as it is written, filtered by level', async () => {
    const a = await AgentProcess.start({ node: 'a' });
    const monitor = spawn(process.execPath, [VIGIL_BIN, 'monitor', '--http-addr', `127.0.0.1:${a.httpPort}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    monitor.stdout.on('data', (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((r) => monitor.once('exit', r));
    try {
      // b's join makes a's log say "member join"; should the join beat the stream's opening, b's
      // leave makes another line.
      const b = await AgentProcess.start({ node: 'b', extraArgs: ['--join', `127.0.0.1:${a.gossipPort}`] });
      await waitFor(
        'the join of b in the monitor output',
        () => /\[INFO\] {2}member join: .*\bmember=b\b/.test(out),
        20_000,
      ).catch(async () => {
        await b.stop('SIGTERM');
        await waitFor('the leave of b in the monitor output', () => /member (left|leave)/.test(out), 20_000);
      });
      expect(out).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z \[INFO\] {2}member /m);
      expect(out).not.toMatch(/\[DEBUG\]/);
    } finally {
      monitor.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    const bad = await fetch(`${a.url}/v1/agent/monitor?loglevel=loud`);
    expect(bad.status).toBe(400);
  });
});
