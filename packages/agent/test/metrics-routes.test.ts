// GET /metrics with its registry built late (prom-client loads after the API has answered): what
// happened before that is still counted. The membership plane is a small in-memory object (the
// route reads counters and subscribes to events; a real plane needs sockets for nothing tested here).

import { EventEmitter } from 'node:events';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { CatalogStats } from '../src/catalog/catalog-node.ts';
import { registerMetricsRoutes } from '../src/http/metrics-routes.ts';
import type { GossipStats } from '../src/http/planes.ts';
import { createHttpServer } from '../src/http/server.ts';
import { newMembershipCounters } from '../src/membership/membership-service.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function membershipStub() {
  const events = new EventEmitter();
  const counters = { ...newMembershipCounters(), packetsIn: 7 };
  const membership: GossipStats = {
    counters,
    localName: () => 'a',
    members: () => [],
    member: () => undefined,
    serfDrops: () => ({}) as ReturnType<GossipStats['serfDrops']>,
    health: () => 0,
    on: (event, listener) => events.on(event, listener),
  };
  return { membership, events };
}

async function setup() {
  const { membership, events } = membershipStub();
  const app = createHttpServer(pino({ level: 'silent' }));
  registerMetricsRoutes(app, {
    membership,
    mesh: { mesh: { tables: () => [], isSynced: () => false }, services: { listChecks: () => [] } },
    catalog: {
      // Every figure 0.
      stats: () =>
        new Proxy({} as CatalogStats, {
          get: (_, k) => (k === 'accepted' ? { gossip: 0, sync: 0 } : k === 'rejected' ? {} : 0),
        }),
      get: () => undefined,
    },
  });
  let ready = false;
  app.get('/readyz', async (_req, reply) => reply.code(ready ? 200 : 503).send(ready ? 'ok' : 'starting'));
  await app.ready();
  cleanups.push(() => app.close());
  const metrics = async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode, res.body).toBe(200);
    return res.body;
  };
  return { app, events, metrics, setReady: () => (ready = true) };
}

const count = (text: string, labels: string) =>
  Number(new RegExp(`^vigil_http_request_duration_seconds_count\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);

describe('GET /metrics, registry built late', () => {
  it('counts the requests answered before the registry existed, 503s included', async () => {
    const { app, metrics, setReady } = await setup();
    for (let i = 0; i < 3; i++) expect((await app.inject({ url: '/readyz' })).statusCode).toBe(503);
    setReady();
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
    const text = await metrics();
    expect(count(text, 'method="GET",route="/readyz",code="503"')).toBe(3);
    expect(count(text, 'method="GET",route="/readyz",code="200"')).toBe(1);
    expect(text).toMatch(/^vigil_gossip_packets_total\{direction="in"\} 7$/m);
    // And those after, the first scrape included.
    await app.inject({ url: '/readyz' });
    const later = await metrics();
    expect(count(later, 'method="GET",route="/readyz",code="200"')).toBe(2);
    expect(count(later, 'method="GET",route="/metrics",code="200"')).toBe(1);
  });

  it('counts member transitions from the start, before the first scrape', async () => {
    const { events, metrics } = await setup();
    events.emit('event', { type: 'suspect', member: { name: 'b' } });
    events.emit('event', { type: 'alive', member: { name: 'b' } });
    events.emit('event', { type: 'join', member: { name: 'c' } });
    const text = await metrics();
    expect(text).toMatch(/^vigil_member_transitions_total\{member="b",to="suspect"\} 1$/m);
    expect(text).toMatch(/^vigil_member_transitions_total\{member="b",to="alive"\} 1$/m);
    expect(text).not.toMatch(/member="c"/);
  });
});
