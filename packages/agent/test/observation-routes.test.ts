// POST /v1/agent/observations: validation at the boundary, loopback only, the ACL token when the
// agent has one, and the reports reaching the opinion fold (a real OutlierPlane on virtual time).

import type { EndpointOpinion } from '@vigil/protocol';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { registerObservationRoutes } from '../src/http/observation-routes.ts';
import { createHttpServer } from '../src/http/server.ts';
import { OutlierPlane } from '../src/outlier/index.ts';
import { VirtualRuntime } from '../src/runtime/index.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(aclToken?: string) {
  const plane = new OutlierPlane({
    runtime: new VirtualRuntime(1),
    options: {},
    panicThreshold: 0.5,
    publish: () => {},
  });
  const app = createHttpServer(pino({ level: 'silent' }));
  registerObservationRoutes(app, { observe: (b) => plane.report(b), opinions: () => plane.opinions() }, { aclToken });
  await app.ready();
  cleanups.push(async () => {
    plane.stop();
    await app.close();
  });
  const post = (payload: unknown, remoteAddress = '127.0.0.1', headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: '/v1/agent/observations', payload: payload as object, remoteAddress, headers });
  return { plane, post, app };
}

const one = { service: 'web', node: 's1', id: 'web-1', http5xx: 4, refused: 1, latencyMsSum: 20 };

describe('POST /v1/agent/observations', () => {
  it('takes a batch from a local client and folds it into an opinion', async () => {
    const { post, app } = await setup();
    const res = await post({ observations: [one] });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ accepted: 1, dropped: 0 });
    const [op] = (await app.inject({ method: 'GET', url: '/v1/agent/opinions' })).json() as EndpointOpinion[];
    expect(op).toMatchObject({ node: 's1', id: 'web-1', http5xx: 4, refused: 1, latencyMs: 4 });
    expect(op!.transitions.map((t) => t.state)).toEqual(['failing']);
  });

  it('refuses remote callers with 403', async () => {
    const { plane, post } = await setup();
    const res = await post({ observations: [one] }, '10.1.2.3');
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toMatch(/local clients only/);
    expect(plane.opinions()).toEqual([]);
    expect((await post({ observations: [one] }, '::ffff:127.0.0.1')).statusCode).toBe(200);
  });

  it('with an ACL token, refuses a local report without it or with another one (agent:write)', async () => {
    const { plane, post, app } = await setup('sesame');
    const missing = await post({ observations: [one] });
    expect(missing.statusCode).toBe(403);
    expect(missing.json().error).toMatch(/requires an ACL token/);
    const wrong = await post({ observations: [one] }, '127.0.0.1', { 'x-vigil-token': 'open' });
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().error).toMatch(/not valid/);
    // The token is checked before the body: a bad batch without it is a 403, not a 400 naming fields.
    expect((await post({ observations: 'x' })).statusCode).toBe(403);
    expect(plane.opinions()).toEqual([]);

    const ok = await post({ observations: [one] }, '127.0.0.1', { 'x-vigil-token': 'sesame' });
    expect(ok.statusCode).toBe(200);
    const consul = await post({ observations: [one] }, '127.0.0.1', { 'x-consul-token': 'sesame' });
    expect(consul.statusCode).toBe(200);
    expect(plane.opinions()).toHaveLength(1);
    // Remote callers stay refused even with the token: an opinion is this host's own view.
    const remote = await post({ observations: [one] }, '10.1.2.3', { 'x-vigil-token': 'sesame' });
    expect(remote.statusCode).toBe(403);
    expect(remote.json().error).toMatch(/local clients only/);
    // Reading this host's opinions is not a write.
    expect((await app.inject({ method: 'GET', url: '/v1/agent/opinions' })).statusCode).toBe(200);
  });

  it('answers 400 naming the field for bad batches', async () => {
    const { post } = await setup();
    const cases: [unknown, RegExp][] = [
      [{}, /observations/],
      [{ observations: [{ ...one, http5xx: -1 }] }, /observations\.0\.http5xx/],
      [{ observations: [{ ...one, node: '' }] }, /observations\.0\.node/],
      [{ observations: [{ ...one, extra: 1 }] }, /extra|Unrecognized/],
      [{ observations: Array.from({ length: 257 }, () => one) }, /observations/],
    ];
    for (const [body, message] of cases) {
      const res = await post(body);
      expect(res.statusCode, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.json().error).toMatch(message);
    }
  });
});

describe('vigil routes: demotions in short', () => {
  it('names the observers, what they saw and until when, and escapes control characters', async () => {
    const { renderDemotions } = await import('../src/cli/routes-command.ts');
    const base = { service: 'web', policy: 'active-passive' as const, panic: false, redundancy: 'N+2', endpoints: [] };
    const observer = {
      state: 'failing' as const,
      since: Date.UTC(2026, 0, 1, 10, 0, 5),
      ok: 1,
      refused: 2,
      timeout: 0,
      http5xx: 7,
      other: 0,
      latencyMs: 3,
    };
    const text = renderDemotions({
      ...base,
      demotions: [
        {
          node: 's1',
          id: 'web-1',
          reason: 'outlier',
          until: Date.UTC(2026, 0, 1, 10, 0, 35),
          ejections: 2,
          observers: [
            { ...observer, node: 'c0' },
            { ...observer, node: 'c\u001b[2J1' },
          ],
        },
        { node: 's2', id: 'web-2', reason: 'confirmed-suspect' },
        {
          node: 's4',
          id: 'web-4',
          reason: 'outlier',
          until: Date.UTC(2026, 0, 1, 10, 30),
          damped: true,
          penalty: 2970,
          observers: [],
        },
      ],
      held: [
        {
          node: 's3',
          id: 'web-3',
          reason: 'outlier',
          heldBy: 'max-ejection',
          observers: [{ ...observer, node: 'c0' }],
        },
      ],
    });
    expect(text).toBe(
      [
        '  ! s1/web-1: ejected until 10:00:35, #2; seen failing by c0 7x5xx 2 refused 1 ok since 10:00:05; c\\x1b[2J1 7x5xx 2 refused 1 ok since 10:00:05',
        '  ! s2/web-2: node is a confirmed suspect',
        '  ! s4/web-4: held out until 10:30:00: its health flaps (penalty 2970)',
        '  ! s3/web-3: NOT ejected (max-ejection), #1; seen failing by c0 7x5xx 2 refused 1 ok since 10:00:05',
        '',
      ].join('\n'),
    );
  });
});
