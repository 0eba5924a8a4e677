/**
 * Hostile names from the network: a spoofed UDP `alive` and a push/pull naming members with escape
 * sequences, a newline or 3000 characters, or carrying control characters in their tags, sent to a
 * real agent process. They are counted and dropped; nothing of them reaches the member list, the
 * other agent, or the terminal of `vigil members`. Tags with control characters accepted over HTTP
 * reach `vigil services list` escaped.
 */
import { createSocket } from 'node:dgram';
import { connect as tcpConnect } from 'node:net';
import { encodeMessage, encodeNodeMeta, encodeStream, type Message } from '@vigil/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, disposeAllAgents, runVigil } from './harness/agent-process.ts';
import { freePort } from './harness/free-port.ts';
import { waitFor } from './harness/wait-for.ts';

afterEach(disposeAllAgents);

const ESC = '\u001b';
const VSN = [1, 5, 2, 2, 5, 4];
const LOOPBACK = new Uint8Array([127, 0, 0, 1]);

const alive = (node: string, port: number, tags: Record<string, string> = {}): Message => ({
  type: 'alive',
  incarnation: 1,
  node,
  addr: LOOPBACK,
  port,
  meta: encodeNodeMeta(tags),
  vsn: VSN,
});

const names = async (a: AgentProcess) => (await a.get<{ name: string }[]>('/v1/members')).body.map((m) => m.name);

async function sendUdp(port: number, packets: readonly Uint8Array[]): Promise<void> {
  const socket = createSocket('udp4');
  try {
    for (const p of packets) await new Promise<void>((r) => socket.send(p, port, '127.0.0.1', () => r()));
  } finally {
    socket.close();
  }
}

/** One push/pull over TCP, as a joining member sends it; waits for the agent's answer. */
function sendPushPull(port: number, nodes: Extract<Message, { type: 'pushPull' }>['nodes']): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: '127.0.0.1', port }, () => {
      s.write(encodeStream({ type: 'pushPull', join: false, nodes, userState: new Uint8Array(0) }));
    });
    s.on('data', () => s.end());
    s.on('close', () => resolve());
    s.on('error', reject);
  });
}

describe('names and tags from the network', () => {
  it('counts and drops spoofed members with control characters or unbounded names, and keeps valid ones', async () => {
    const a = await AgentProcess.start({ node: 'a' });
    const b = await AgentProcess.start({ node: 'b', extraArgs: ['--join', `127.0.0.1:${a.gossipPort}`] });
    await waitFor('a and b to see each other', async () => (await names(a)).length === 2);
    // Nothing listens there: the valid spoofed members are only there to show the path works.
    const nowhere = await freePort();
    const forged = [
      `${ESC}[2J${ESC}[31mroot${ESC}[0m`,
      'evil\nc            127.0.0.1:7946  alive',
      'x'.repeat(3000),
      `bidi\u202etxt.exe`,
    ];
    await sendUdp(a.gossipPort, [
      ...forged.map((n) => encodeMessage(alive(n, nowhere))),
      encodeMessage(alive('tagged', nowhere, { note: `${ESC}]0;pwned\u0007` })),
      encodeMessage({ type: 'suspect', incarnation: 1, node: 'b', from: `${ESC}[1m` }),
      encodeMessage(alive('ghost', nowhere, { role: 'plain' })),
    ]);
    await sendPushPull(a.gossipPort, [
      {
        name: `pp${ESC}[5m`,
        addr: LOOPBACK,
        port: nowhere,
        meta: new Uint8Array(0),
        incarnation: 1,
        state: 0,
        vsn: VSN,
      },
      { name: 'ghost2', addr: LOOPBACK, port: nowhere, meta: new Uint8Array(0), incarnation: 1, state: 0, vsn: VSN },
    ]);
    await waitFor('the valid spoofed members on a', async () => {
      const now = await names(a);
      return now.includes('ghost') && now.includes('ghost2');
    });

    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toMatch(/^vigil_gossip_dropped_total\{reason="invalid-name"\} 6$/m);
    expect(metrics).toMatch(/^vigil_gossip_dropped_total\{reason="invalid-tags"\} 1$/m);
    for (const agent of [a, b]) {
      expect((await names(agent)).filter((n) => !['a', 'b', 'ghost', 'ghost2'].includes(n))).toEqual([]);
    }
    expect(
      await (await b.get<{ name: string; status: string }[]>('/v1/members')).body.find((m) => m.name === 'b')?.status,
    ).toBe('alive');
    const table = await runVigil(['members', '--http-addr', a.url]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).not.toContain(ESC);
    expect(table.stdout.trim().split('\n')).toHaveLength(1 + 4);
    // The drop is logged (once a minute per reason) without the name it refused.
    expect(a.logs).toMatch(/dropped gossip: a member name of \d+ characters/);
    expect(a.logs).not.toContain('x'.repeat(200));
    expect(a.logs).not.toContain(ESC);
  });

  it('shows tags and meta with control characters, accepted over HTTP, escaped in the CLI', async () => {
    const a = await AgentProcess.start({ node: 'a' });
    const res = await fetch(`${a.url}/v1/agent/service/register`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        ID: 'web-1',
        Name: 'web',
        Port: 8080,
        Tags: [`${ESC}[31mred`, 'two\nweb-2  web  10.0.0.9:80', '\u009b31m'],
        Meta: { note: `${ESC}]0;title\u0007` },
        Check: { TTL: '30s', Notes: `${ESC}[8m` },
      }),
    });
    expect(res.status).toBe(200);
    for (const args of [['services', 'list'], ['checks'], ['services', 'list', '--json'], ['checks', '--json']]) {
      const out = await runVigil([...args, '--http-addr', a.url]);
      expect(out.code, out.stderr).toBe(0);
      for (const c of [ESC, '\u0007', '\u009b']) expect(out.stdout, args.join(' ')).not.toContain(c);
    }
    const list = await runVigil(['services', 'list', '--http-addr', a.url]);
    expect(list.stdout).toContain('\\x1b[31mred,two\\nweb-2');
    expect(list.stdout.trim().split('\n')).toHaveLength(2);
    const json = await runVigil(['services', 'list', '--json', '--http-addr', a.url]);
    // Still JSON, and still the same values.
    expect((JSON.parse(json.stdout) as Record<string, { Tags: string[] }>)['web-1']!.Tags[2]).toBe('\u009b31m');
  });
});
