/**
 * Connecting, following and surviving the agent. A FakeAgent (test/helpers/fake-agent.ts) stands in
 * for the agent's HTTP API contract; the end-to-end test against real agents comes with the demo.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AgentResponseError,
  AgentUnavailableError,
  connect,
  createClient,
  type RoutesEvent,
  UnknownServiceError,
  type VigilClient,
} from '../src/index.ts';
import { FakeAgent, table, until } from './helpers/fake-agent.ts';

let agent: FakeAgent;
let clients: VigilClient[] = [];

const fast = { reconnect: { initialMs: 20, maxMs: 100 } };

async function track(c: Promise<VigilClient> | VigilClient): Promise<VigilClient> {
  const client = await c;
  clients.push(client);
  return client;
}

beforeEach(async () => {
  agent = new FakeAgent();
  agent.setTable(table('echo', [{ port: 1001, share: 1 }]));
  await agent.start();
});

afterEach(async () => {
  for (const c of clients) await c.close();
  clients = [];
  await agent.stop();
});

describe('connect', () => {
  it('resolves after the first sync, with the tables, the index and the token', async () => {
    const client = await track(connect({ agent: agent.url, token: 's3cret' }));
    expect(client.services()).toEqual(['echo']);
    expect(client.resolve('echo').origin).toBe('http://127.0.0.1:1001');
    expect(client.index()).toBe(agent.currentIndex);
    expect(client.staleness()).toBe(0);
    await until(() => agent.openStreams === 1, 'the event stream');
    expect(agent.readTokens).toEqual(['s3cret']);
    expect(agent.streams[0]).toEqual({ lastEventId: String(agent.currentIndex), token: 's3cret' });
    expect(client.stats()).toMatchObject({ agent: agent.url, connected: true, stalenessMs: 0 });
  });

  it('rejects a cold start without an agent with a typed error that says what to do, and leaves nothing running', async () => {
    const port = agent.port;
    await agent.stop();
    const started = Date.now();
    const err = await connect({ agent: `127.0.0.1:${port}`, connectTimeoutMs: 300, ...fast }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentUnavailableError);
    expect((err as AgentUnavailableError).agent).toBe(`http://127.0.0.1:${port}`);
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    expect((err as Error).message).toMatch(/Start the agent/);
    expect((err as Error).message).toMatch(/VIGIL_HTTP_ADDR/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('rejects with the agent answer when the agent refuses (403)', async () => {
    agent.failReadsWith = 403;
    const err = await connect({ agent: agent.url, connectTimeoutMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentResponseError);
    expect((err as AgentResponseError).status).toBe(403);
    expect((err as Error).message).toMatch(/token/);
  });

  it('says how to reach an agent that refuses the Host it was addressed by', () => {
    const err = new AgentResponseError(
      'http://agent:7948',
      '/v1/routes',
      403,
      'Host "agent:7948" does not name this agent (DNS rebinding?); use its address, localhost, or allow the name with --http-allowed-host',
    );
    expect(err.message).toMatch(/start it with --http-allowed-host NAME/);
    expect(err.message).not.toMatch(/token/);
  });

  it('createClient() starts without waiting; ready() resolves once an agent appears', async () => {
    const port = agent.port;
    await agent.stop();
    const client = await track(createClient({ agent: `http://127.0.0.1:${port}`, ...fast }));
    expect(client.staleness()).toBe(Number.POSITIVE_INFINITY);
    expect(() => client.resolve('echo')).toThrow(UnknownServiceError);
    let ready = false;
    const p = client.ready().then(() => {
      ready = true;
    });
    // Two failed attempts, not a wall-clock wait: the client tried and is still not ready.
    await until(() => client.stats().sync.reconnects >= 2, 'two failed connection attempts');
    expect(ready).toBe(false);
    await agent.start(port);
    await p;
    expect(client.resolve('echo').port).toBe(1001);
    expect(client.staleness()).toBe(0);
  });
});

describe('following the agent', () => {
  it('applies route events as they come, and emits them', async () => {
    const client = await track(connect({ agent: agent.url }));
    await until(() => agent.openStreams === 1, 'the event stream');
    const events: RoutesEvent[] = [];
    client.on('routes', (e) => events.push(e));
    agent.setTable(table('pay', [{ port: 2001, share: 1 }]));
    agent.setTable(table('echo', [{ port: 1002, share: 1 }]));
    await until(() => events.length === 2, 'two route events');
    expect(client.resolve('pay').port).toBe(2001);
    expect(client.resolve('echo').port).toBe(1002);
    expect(events.map((e) => `${e.service}:${e.change}`)).toEqual(['pay:added', 'echo:changed']);
    agent.removeService('pay');
    await until(() => events.length === 3, 'the removal');
    expect(() => client.resolve('pay')).toThrow(UnknownServiceError);
    expect(() => client.resolve('pay')).toThrow(/"pay" is not in the routing table \(known: echo\)/);
    expect(client.index()).toBe(agent.currentIndex);
  });

  it('passes member events through', async () => {
    const client = await track(connect({ agent: agent.url }));
    await until(() => agent.openStreams === 1, 'the event stream');
    const members: unknown[] = [];
    client.on('member', (m) => members.push(m));
    agent.publish('member', { name: 'n2', status: 'suspect' });
    await until(() => members.length === 1, 'a member event');
    expect(members[0]).toEqual({ name: 'n2', status: 'suspect' });
  });

  it('serves stale tables while the agent is down, says how stale, and resyncs when it restarts', async () => {
    // Staleness reads the client's clock: a test clock makes it exact instead of a wall-clock wait.
    const clock = { t: 0 };
    const client = await track(connect({ agent: agent.url, ...fast, now: () => clock.t }));
    await until(() => agent.openStreams === 1, 'the event stream');
    const seen: string[] = [];
    client.on('stale', () => seen.push('stale'));
    client.on('fresh', (e) => seen.push(`fresh after ${e.staleForMs > 0 ? 'a while' : 'nothing'}`));
    const port = agent.port;
    await agent.stop();
    await until(() => seen.includes('stale'), 'the stale event');
    expect(client.stats().connected).toBe(false);
    clock.t += 150;
    expect(client.staleness()).toBe(150);
    expect(client.stats().stalenessMs).toBe(150);
    // Still routing on the last table it had.
    expect(client.resolve('echo').port).toBe(1001);
    expect(await client.call('echo', async (ep) => ep.port)).toBe(1001);

    // The agent comes back on the same port, restarted: a new feed (index from 1) and a new table.
    agent.resetFeed();
    agent.tables.clear();
    agent.setTable(table('echo', [{ port: 1003, share: 1 }]));
    const readsBefore = agent.reads;
    await agent.start(port);
    await until(() => seen.includes('fresh after a while'), 'the fresh event');
    expect(agent.reads).toBeGreaterThan(readsBefore);
    expect(client.staleness()).toBe(0);
    expect(client.resolve('echo').port).toBe(1003);
    expect(client.index()).toBe(agent.currentIndex);
    // And it follows the new feed from the index it read.
    await until(() => agent.openStreams === 1, 'the new event stream');
    expect(agent.streams.at(-1)?.lastEventId).toBe(String(agent.currentIndex));
    agent.setTable(table('echo', [{ port: 1004, share: 1 }]));
    await until(() => client.resolve('echo').port === 1004, 'a live update after the restart');
  });

  it('reconnects after a dropped stream and resumes from the index it read, missing nothing', async () => {
    const client = await track(connect({ agent: agent.url, ...fast }));
    await until(() => agent.openStreams === 1, 'the event stream');
    agent.dropStreams();
    agent.setTable(table('echo', [{ port: 1005, share: 1 }])); // published while no one listens
    await until(() => client.resolve('echo').port === 1005, 'the change made during the gap');
    await until(() => agent.openStreams === 1, 'the new stream');
    const last = agent.streams.at(-1)!;
    expect(Number(last.lastEventId)).toBe(agent.currentIndex);
    expect(client.stats().sync.reconnects).toBeGreaterThanOrEqual(1);
  });

  it('re-reads the routes when the agent sends resync', async () => {
    const client = await track(connect({ agent: agent.url, ...fast }));
    await until(() => agent.openStreams === 1, 'the event stream');
    agent.setTableSilently(table('echo', [{ port: 1006, share: 1 }]));
    const reads = agent.reads;
    agent.sendResync();
    await until(() => client.resolve('echo').port === 1006, 'the re-read table');
    expect(agent.reads).toBe(reads + 1);
    expect(client.stats().sync.resyncs).toBe(1);
  });

  it('counts a malformed route event and re-reads rather than trust it', async () => {
    const client = await track(connect({ agent: agent.url, ...fast }));
    await until(() => agent.openStreams === 1, 'the event stream');
    agent.setTableSilently(table('echo', [{ port: 1007, share: 1 }]));
    agent.sendRaw(
      `id: ${agent.currentIndex}\nevent: route\ndata: {"change":"changed","service":"echo","table":{"service":"echo","endpoints":[{"port":"x"}]}}\n\n`,
    );
    await until(() => client.resolve('echo').port === 1007, 'the re-read table');
    expect(client.stats().sync.badEvents).toBe(1);
  });

  it('treats a silent stream as dead and reconnects (streamIdleMs)', async () => {
    const client = await track(connect({ agent: agent.url, streamIdleMs: 300, ...fast }));
    await until(() => agent.openStreams === 1, 'the event stream');
    const streams = agent.streams.length;
    let stale = 0;
    client.on('stale', () => stale++);
    // The fake agent sends no keepalives: after 300ms of silence the client gives up on the stream.
    await until(() => agent.streams.length > streams, 'a new stream after the idle timeout');
    expect(stale).toBeGreaterThanOrEqual(1);
    await until(() => client.staleness() === 0, 'fresh again');
  });

  it('close() ends the stream and rejects pending ready() calls', async () => {
    const port = agent.port;
    await agent.stop();
    const client = createClient({ agent: `http://127.0.0.1:${port}`, ...fast });
    const ready = client.ready();
    await client.close();
    await expect(ready).rejects.toThrow(/closed/);
    // close() waits for the sync loop to end, so nothing of this client can read any more. Another
    // client's read proves the agent is up and serving when we look.
    await agent.start(port);
    const other = await track(connect({ agent: agent.url }));
    expect(other.resolve('echo').port).toBe(1001);
    expect(agent.reads).toBe(1);
  });
});
