/**
 * Policy `leader` in the SDK: the fencing token rides on mesh requests to the elected instance
 * (and only to it), `leader()` reports it, and `elect()` stands for a lock through the agent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createClient, type VigilClient } from '../src/index.ts';
import { FakeAgent, table } from './helpers/fake-agent.ts';
import { type Instance, startInstance } from './helpers/instances.ts';

let agent: FakeAgent;
let client: VigilClient;
let primary: Instance;
let standby: Instance;

beforeAll(async () => {
  primary = await startInstance('primary');
  standby = await startInstance('standby');
  agent = new FakeAgent();
  agent.setTable({
    ...table(
      'db',
      [
        { node: 'n1', id: 'db-1', port: primary.port, share: 1 },
        { node: 'n2', id: 'db-2', port: standby.port, state: 'standby' },
      ],
      'leader',
    ),
    leader: { node: 'n1', id: 'db-1', token: 42, term: 7 },
  });
  await agent.start();
  client = await connect({ agent: agent.url, defaults: { backoff: { baseMs: 1, maxMs: 10 } } });
});

afterAll(async () => {
  await client.close();
  await agent.stop();
  await primary.close();
  await standby.close();
});

describe('leader services', () => {
  it('report the leader with its token', () => {
    const leader = client.leader('db');
    expect(leader).toMatchObject({ node: 'n1', id: 'db-1', token: 42, term: 7 });
    expect(leader?.endpoint?.port).toBe(primary.port);
    expect(client.leader('nope')).toBeUndefined();
  });

  it('send Vigil-Fencing-Token to the leader instance only', async () => {
    const res = await client.fetch('http://db/write', { method: 'PUT', body: 'x' });
    expect(res.status).toBe(200);
    expect(primary.tokens.at(-1)).toBe('42');
    // the leader fails: the retry on the standby carries no token (it is not the token's holder)
    primary.mode = '503';
    const again = await client.fetch('http://db/read');
    expect(((await again.json()) as { instance: string }).instance).toBe('standby');
    expect(standby.tokens.at(-1)).toBeUndefined();
    primary.mode = 'ok';
  });
});

describe('elect()', () => {
  it('calls onElected with the token while the agent grants, and onDemoted when grants stop', async () => {
    let granting = true;
    const seen: string[] = [];
    const lockAgent = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url?.split('?')[0]}`);
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify(
            granting ? { held: true, validMs: 800, token: 9, term: 3 } : { held: false, validMs: 0, token: 9, term: 3 },
          ),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((r) => lockAgent.listen(0, '127.0.0.1', () => r()));
    // This stand-in serves no routes; elect() needs none, so the client is never waited on.
    const c = createClient({ agent: `http://127.0.0.1:${(lockAgent.address() as AddressInfo).port}` });
    const events: string[] = [];
    let signal: AbortSignal | undefined;
    const election = c.elect('cron', {
      pollMs: 20,
      onElected: (e) => {
        events.push(`elected ${e.token}/${e.term}`);
        signal = e.signal;
      },
      onDemoted: () => events.push('demoted'),
    });
    await waitUntil(() => events.length === 1);
    expect(events).toEqual(['elected 9/3']);
    expect(election.leading).toBe(true);
    granting = false;
    await waitUntil(() => events.length === 2);
    expect(events).toEqual(['elected 9/3', 'demoted']);
    expect(signal?.aborted).toBe(true);
    await election.stop();
    expect(seen).toContain('DELETE /v1/elections/cron/lock');
    await c.close();
    lockAgent.closeAllConnections();
    await new Promise<void>((r) => lockAgent.close(() => r()));
  });
});

async function waitUntil(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
