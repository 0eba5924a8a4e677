import * as lp from 'it-length-prefixed';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeForwardRequest,
  decodeForwardResponse,
  encodeForwardRequest,
  encodeForwardResponse,
  type ForwardRequest,
  MAX_FORWARD_FRAME_BYTES,
} from '../src/election/forward-codec.ts';
import { FORWARD_PROTOCOL, ForwardError, StreamForwardTransport } from '../src/election/forward-transport.ts';
import { realRuntime } from '../src/runtime/index.ts';
import { Cluster, gossipKey, silentLog } from './catalog-harness.ts';
import { waitFor } from './helpers/wait.ts';

const utf8 = new TextEncoder();
const frame = (value: unknown) => utf8.encode(JSON.stringify(value));
const put: ForwardRequest = {
  group: 'db',
  timeoutMs: 5000,
  op: 'write',
  cmd: { op: 'put', key: 'optime', value: Uint8Array.of(0, 1, 255) },
};

describe('forward codec', () => {
  it('round-trips every operation', () => {
    const reqs: ForwardRequest[] = [
      put,
      { group: 'db', timeoutMs: 1, op: 'write', cmd: { op: 'cas', key: 'k', value: new Uint8Array(), index: 0 } },
      { group: 'db', timeoutMs: 60_000, op: 'write', cmd: { op: 'delete', key: 'k' } },
      { group: 'db', timeoutMs: 9, op: 'write', cmd: { op: 'cas-delete', key: 'k', index: 7 } },
      { group: 'a.b_c-d', timeoutMs: 9, op: 'read', key: 'é/ü', stale: true },
      { group: 'db', timeoutMs: 9, op: 'step-down', to: 'h1' },
      { group: 'db', timeoutMs: 9, op: 'step-down' },
    ];
    for (const r of reqs) expect(decodeForwardRequest(encodeForwardRequest(r))).toEqual(r);
    const res = { status: 409, body: { error: 'cas failed', current: 3 }, leader: 'h0', index: 4 };
    expect(decodeForwardResponse(encodeForwardResponse(res))).toEqual(res);
  });

  it('refuses hostile requests: names, sizes, types, extra fields', () => {
    const ok = { v: 1, group: 'db', timeoutMs: 100, op: 'put', key: 'k', value: 'AAE=' };
    expect(decodeForwardRequest(frame(ok)).op).toBe('write');
    const bad: unknown[] = [
      { ...ok, v: 2 },
      { ...ok, group: '..' },
      { ...ok, group: 'a/b' },
      { ...ok, group: 'x'.repeat(129) },
      { ...ok, key: '' },
      { ...ok, key: 'k'.repeat(513) },
      { ...ok, key: 'é'.repeat(257) }, // 514 UTF-8 bytes
      { ...ok, value: 'not base64!' },
      { ...ok, value: 'A'.repeat(90_000) },
      { ...ok, timeoutMs: 0 },
      { ...ok, timeoutMs: 60_001 },
      { ...ok, timeoutMs: 1.5 },
      { ...ok, op: 'cas' }, // no index
      { ...ok, op: 'cas', index: -1 },
      { ...ok, op: 'drop-table' },
      { ...ok, extra: true },
      { v: 1, group: 'db', timeoutMs: 100, op: 'step-down', to: '' },
      { v: 1, group: 'db', timeoutMs: 100, op: 'read', key: 'k' }, // no stale flag
      [],
      'put',
    ];
    for (const b of bad) expect(() => decodeForwardRequest(frame(b)), JSON.stringify(b).slice(0, 80)).toThrow();
    expect(() => decodeForwardRequest(Uint8Array.of(0xff, 0xfe))).toThrow(/UTF-8 JSON/);
    expect(() => decodeForwardRequest(new Uint8Array(MAX_FORWARD_FRAME_BYTES + 1))).toThrow(/frame of/);
  });

  it('refuses malformed responses', () => {
    const ok = { v: 1, status: 200, body: { ok: true } };
    expect(decodeForwardResponse(frame(ok)).status).toBe(200);
    for (const b of [
      { ...ok, status: 99 },
      { ...ok, status: 600 },
      { ...ok, body: [] },
      { ...ok, index: -1 },
    ])
      expect(() => decodeForwardResponse(frame(b))).toThrow();
  });
});

let cluster = new Cluster();
const transports: StreamForwardTransport[] = [];
afterEach(async () => {
  for (const t of transports.splice(0)) await t.stop();
  await cluster.stop();
  cluster = new Cluster();
});

describe('forward transport over the catalog connections', () => {
  it('carries a request to the leader and its answer back; counts and drops a malformed frame', async () => {
    const a = await cluster.add('a', { gossipKeys: [gossipKey(7)] });
    const b = await cluster.add('b', { gossipKeys: [gossipKey(7)] });
    cluster.connect();
    const seen: [ForwardRequest, string][] = [];
    const ta = await StreamForwardTransport.start(
      a.catalog,
      async () => ({ status: 500, body: {} }),
      realRuntime(),
      silentLog,
    );
    const tb = await StreamForwardTransport.start(
      b.catalog,
      async (req, from) => {
        seen.push([req, from]);
        return { status: 200, body: { ok: true, index: 12 }, leader: 'b' };
      },
      realRuntime(),
      silentLog,
    );
    transports.push(ta, tb);
    // the catalog connection may still be forming: a failed open is "not sent"
    const res = await waitFor(async () => {
      try {
        return await ta.request('b', put, AbortSignal.timeout(5000));
      } catch (err) {
        expect((err as ForwardError).sent).toBe(false);
        return undefined;
      }
    }, 'a forward from a to b');
    expect(res).toEqual({ status: 200, body: { ok: true, index: 12 }, leader: 'b' });
    expect(seen).toEqual([[put, 'a']]);

    // A hostile peer: a frame that is not a request is counted and the stream reset.
    const stream = await a.catalog.openStream('b', FORWARD_PROTOCOL, AbortSignal.timeout(5000));
    stream.send(lp.encode.single(frame({ v: 1, group: '../etc', timeoutMs: 1, op: 'delete', key: 'k' })));
    await stream.close();
    await waitFor(() => tb.counters.malformed === 1, 'the malformed frame to be counted');
    expect(seen).toHaveLength(1);

    // A request to a node that is not a member never leaves: not sent.
    const err = await ta.request('nobody', put, AbortSignal.timeout(1000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ForwardError);
    expect((err as ForwardError).sent).toBe(false);
  });

  it('a forward whose answer never comes fails as sent (outcome unknown)', async () => {
    const a = await cluster.add('a', { gossipKeys: [gossipKey(7)] });
    const b = await cluster.add('b', { gossipKeys: [gossipKey(7)] });
    cluster.connect();
    let release: () => void = () => {};
    const ta = await StreamForwardTransport.start(
      a.catalog,
      async () => ({ status: 500, body: {} }),
      realRuntime(),
      silentLog,
    );
    const tb = await StreamForwardTransport.start(
      b.catalog,
      () =>
        new Promise((resolve) => {
          release = () => resolve({ status: 200, body: {} });
        }),
      realRuntime(),
      silentLog,
    );
    transports.push(ta, tb);
    const abort = new AbortController();
    const pending = waitFor(async () => {
      const out = await ta.request('b', put, abort.signal).catch((e: unknown) => e as ForwardError);
      return out instanceof ForwardError && !out.sent && !abort.signal.aborted ? undefined : out;
    }, 'a forward that reaches b');
    await waitFor(() => tb.counters.served === 1, 'b to hold the request');
    abort.abort(new Error('deadline'));
    const out = await pending;
    expect(out).toBeInstanceOf(ForwardError);
    expect((out as ForwardError).sent).toBe(true);
    expect((out as ForwardError).message).toMatch(/no answer before the deadline/);
    release();
  });
});
