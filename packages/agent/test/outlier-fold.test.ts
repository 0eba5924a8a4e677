// The opinion fold (src/outlier/opinion-fold.ts) and the plane's publish rate, on virtual time.

import type { EndpointOpinion, NodeRecord } from '@vigil/protocol';
import { describe, expect, it } from 'vitest';
import {
  OPINION_LAZY_RECORD_DELAY_MS,
  OPINION_PUBLISH_MIN_MS,
  OPINION_RECORD_DELAY_MS,
  OpinionFolder,
  OUTLIER_DEFAULTS,
  OutlierPlane,
} from '../src/outlier/index.ts';
import { VirtualRuntime } from '../src/runtime/index.ts';
import { inst, member, rec } from './routing-fixtures.ts';

const obs = (
  fields: Partial<{
    ok: number;
    refused: number;
    timeout: number;
    http5xx: number;
    breakerOpened: boolean;
    latencyMsSum: number;
  }>,
) => ({
  service: 'web',
  node: 's1',
  id: 'web-1',
  ok: 0,
  refused: 0,
  timeout: 0,
  http5xx: 0,
  other: 0,
  latencyMsSum: 0,
  ...fields,
});

function folder() {
  const runtime = new VirtualRuntime(1);
  let changes = 0;
  const f = new OpinionFolder({ runtime, options: OUTLIER_DEFAULTS, onChange: () => changes++ });
  return { runtime, f, changes: () => changes, states: () => f.opinions()[0]?.transitions.map((t) => t.state) };
}

describe('opinion fold', () => {
  it('ok, then failing on enough failures in the window, then ok on a clean batch, then idle', () => {
    const { runtime, f, changes, states } = folder();
    f.report([obs({ ok: 10, latencyMsSum: 50 })]);
    expect(states()).toEqual(['ok']);
    f.report([obs({ http5xx: 2 })]);
    expect(states()).toEqual(['ok']); // 2 failures of 12 calls: not a verdict
    runtime.advance(500);
    f.report([obs({ http5xx: 9, refused: 2 })]);
    expect(states()).toEqual(['ok', 'failing']);
    const failing = f.opinions()[0]!;
    expect([failing.ok, failing.http5xx, failing.refused]).toEqual([10, 11, 2]);
    runtime.advance(500);
    f.report([obs({ ok: 1 })]);
    // A success among a window full of failures is no recovery.
    expect(states()).toEqual(['ok', 'failing']);
    runtime.advance(OUTLIER_DEFAULTS.windowMs + OUTLIER_DEFAULTS.windowMs / 4);
    expect(states()).toEqual(['ok', 'failing', 'idle']);
    // Once the failures have aged out, a success is a successful trial.
    f.report([obs({ ok: 1 })]);
    expect(states()).toEqual(['ok', 'failing', 'idle', 'ok']);
    expect(changes()).toBe(4);
    f.stop();
  });

  it("a client's opened breaker makes the view failing at once", () => {
    const { f, states } = folder();
    f.report([obs({ ok: 50 })]);
    f.report([obs({ timeout: 1, breakerOpened: true })]);
    expect(states()).toEqual(['ok', 'failing']);
    f.stop();
  });

  it('keeps at most 8 transitions with strictly rising times', () => {
    const { f, runtime } = folder();
    for (let i = 0; i < 10; i++) {
      f.report([obs({ http5xx: 5 })]);
      runtime.advance(OUTLIER_DEFAULTS.windowMs * 1.5);
      f.report([obs({ ok: 1 })]);
    }
    const t = f.opinions()[0]!.transitions;
    expect(t).toHaveLength(8);
    for (let i = 1; i < t.length; i++) expect(t[i]!.at).toBeGreaterThan(t[i - 1]!.at);
    f.stop();
  });

  it('the plane publishes a flip at once and coalesces the next ones for 100 ms', () => {
    const runtime = new VirtualRuntime(2);
    let published = 0;
    const plane = new OutlierPlane({ runtime, options: {}, panicThreshold: 0.5, publish: () => published++ });
    plane.report([obs({ ok: 1 })]);
    expect(published).toBe(1);
    plane.report([obs({ http5xx: 5 })]);
    plane.report([obs({ ok: 1 })]);
    expect(published).toBe(1);
    runtime.advance(OPINION_PUBLISH_MIN_MS);
    expect(published).toBe(2);
    plane.stop();
  });

  it('a change no verdict waits for does not hold back a failure right after it', () => {
    const runtime = new VirtualRuntime(4);
    const updates: string[][] = [];
    const plane = planeWithUpdates(runtime, [], updates);
    // A first ok on another endpoint: it waits for the record, and sends nothing now.
    plane.report([{ ...obs({ ok: 1 }), id: 'web-2', node: 'n2' }]);
    runtime.advance(1);
    // A failure 1 ms later goes at once, not at the end of the 100 ms update budget.
    plane.report([obs({ http5xx: 1 })]);
    expect(updates).toEqual([['web-1:failing']]);
    // A sent update still uses the budget: the next flip waits for it.
    plane.report([{ ...obs({ http5xx: 1 }), id: 'web-2', node: 'n2' }]);
    expect(updates).toEqual([['web-1:failing']]);
    runtime.advance(OPINION_PUBLISH_MIN_MS);
    expect(updates).toEqual([['web-1:failing'], ['web-2:failing']]);
    plane.stop();
  });

  it('with updates, what a verdict waits for goes out at once, the rest in one record after', () => {
    const runtime = new VirtualRuntime(3);
    const records: number[] = [];
    const updates: string[][] = [];
    const plane = planeWithUpdates(runtime, records, updates);
    const start = runtime.clock.now();
    const other = { ...obs({ ok: 1 }), id: 'web-2', node: 'n2' };
    // First calls, all fine: nothing any verdict waits for.
    plane.report([obs({ ok: 1 }), other]);
    runtime.advance(OPINION_PUBLISH_MIN_MS);
    expect(updates).toEqual([]);
    // A failure: at once, alone (web-2 did not change).
    const failedAt = runtime.clock.now();
    plane.report([obs({ http5xx: 3 })]);
    runtime.advance(OPINION_PUBLISH_MIN_MS);
    expect(updates).toEqual([['web-1:failing']]);
    expect(records).toEqual([]);
    runtime.advance(OPINION_RECORD_DELAY_MS);
    // One record for all of it, OPINION_RECORD_DELAY_MS after the first change a verdict waits
    // for (the first oks alone would have waited longer: see the next test).
    expect(start).toBeLessThan(failedAt);
    expect(records).toEqual([failedAt + OPINION_RECORD_DELAY_MS]);
    // Leaving failing (no calls for a window: idle) ends a quorum: at once too.
    runtime.advance(OUTLIER_DEFAULTS.windowMs);
    expect(updates).toEqual([['web-1:failing'], ['web-1:idle']]);
    plane.stop();
  });

  it('changes no verdict waits for wait longer for the record, unless something here is failing', () => {
    const runtime = new VirtualRuntime(5);
    const records: number[] = [];
    const updates: string[][] = [];
    const plane = planeWithUpdates(runtime, records, updates);
    const start = runtime.clock.now();
    plane.report([obs({ ok: 1 })]);
    runtime.advance(OPINION_RECORD_DELAY_MS);
    expect(records).toEqual([]);
    runtime.advance(OPINION_LAZY_RECORD_DELAY_MS - OPINION_RECORD_DELAY_MS);
    expect(records).toEqual([start + OPINION_LAZY_RECORD_DELAY_MS]);
    // Something failing here: this host's record decides whether it is a discounted observer, so
    // even a first ok elsewhere brings it within OPINION_RECORD_DELAY_MS.
    plane.report([obs({ http5xx: 1 })]);
    runtime.advance(OPINION_RECORD_DELAY_MS);
    expect(records).toHaveLength(2);
    const okAt = runtime.clock.now();
    plane.report([{ ...obs({ ok: 1 }), id: 'web-2', node: 'n2' }]);
    expect(updates).toEqual([['web-1:failing']]); // the ok itself still waits for the record
    runtime.advance(OPINION_RECORD_DELAY_MS);
    expect(records).toEqual([start + OPINION_LAZY_RECORD_DELAY_MS, expect.any(Number), okAt + OPINION_RECORD_DELAY_MS]);
    plane.stop();
  });

  it('a record published for another reason pays what the plane owed: no second record', () => {
    const runtime = new VirtualRuntime(6);
    const records: number[] = [];
    const plane = planeWithUpdates(runtime, records, []);
    plane.report([obs({ ok: 1 })]);
    runtime.advance(1_000);
    plane.recordPublished(); // a registration's record carried every opinion
    runtime.advance(OPINION_LAZY_RECORD_DELAY_MS);
    expect(records).toEqual([]);
    // The next change is owed again.
    plane.report([{ ...obs({ ok: 1 }), id: 'web-2', node: 'n2' }]);
    runtime.advance(OPINION_LAZY_RECORD_DELAY_MS);
    expect(records).toHaveLength(1);
    plane.stop();
  });

  it('an owed change on an endpoint the verdict then ejects goes out at once (a trial)', () => {
    const runtime = new VirtualRuntime(7);
    const records: number[] = [];
    const updates: string[][] = [];
    const plane = planeWithUpdates(runtime, records, updates);
    // An ok here before this agent knew that two other observers had s1 failing.
    plane.report([obs({ ok: 1 })]);
    const okAt = runtime.clock.wallNow();
    runtime.advance(OPINION_PUBLISH_MIN_MS);
    expect(updates).toEqual([]);
    const failing = (observer: string): NodeRecord => ({
      ...rec(observer, []),
      opinions: [failingOpinion('s1', 'web-1', okAt - 1_000)],
    });
    const servers = Array.from({ length: 10 }, (_, i) => rec(`s${i}`, [inst(`web-${i}`)]));
    const all = [...servers, failing('c0'), failing('c1')];
    const now = runtime.clock.wallNow();
    const verdict = plane.evaluate(
      all,
      all.map((r) => member(r.node)),
      now,
    );
    expect(verdict.ejected.map((e) => e.id)).toEqual(['web-1']);
    expect(updates).toEqual([['web-1:ok']]);
    // Once: a later evaluation sends nothing more; the record follows as for any urgent change.
    plane.evaluate(
      all,
      all.map((r) => member(r.node)),
      now,
    );
    expect(updates).toHaveLength(1);
    const sentAt = runtime.clock.now();
    runtime.advance(OPINION_RECORD_DELAY_MS);
    expect(records).toEqual([sentAt + OPINION_RECORD_DELAY_MS]);
    plane.stop();
  });

  it('the record leaves out idle views that never failed, until a record shows the endpoint failing', () => {
    const runtime = new VirtualRuntime(8);
    const updates: string[][] = [];
    const plane = planeWithUpdates(runtime, [], updates);
    const servers = Array.from({ length: 10 }, (_, i) => rec(`s${i}`, [inst(`web-${i}`)]));
    const evaluate = (records: NodeRecord[]) =>
      plane.evaluate(
        records,
        records.map((r) => member(r.node)),
        runtime.clock.wallNow(),
      );
    const ids = (ops: readonly EndpointOpinion[]) => ops.map((o) => `${o.id}:${o.transitions.map((t) => t.state)}`);
    // s1: called fine, then not at all (idle). s2: failed once, then idle.
    plane.report([obs({ ok: 1 }), { ...obs({ http5xx: 1 }), node: 's2', id: 'web-2' }]);
    runtime.advance(OUTLIER_DEFAULTS.windowMs + OUTLIER_DEFAULTS.windowMs / 4);
    evaluate(servers);
    expect(ids(plane.opinions())).toEqual(['web-1:ok,idle', 'web-2:failing,idle']);
    expect(ids(plane.recordOpinions())).toEqual(['web-2:failing,idle']);
    // Another observer's record shows s1 failing: this host's past oks on it may end an ejection
    // now, so its view goes out at once, and back into the record.
    const failed = { ...rec('c0', []), opinions: [failingOpinion('s1', 'web-1', runtime.clock.wallNow())] };
    updates.length = 0;
    evaluate([...servers, failed]);
    expect(updates).toEqual([['web-1:idle']]);
    expect(ids(plane.recordOpinions())).toEqual(['web-1:ok,idle', 'web-2:failing,idle']);
    evaluate([...servers, failed]);
    expect(updates).toHaveLength(1);
    plane.stop();
  });
});

/** A plane that records when it publishes a record, and what each update carries. */
function planeWithUpdates(runtime: VirtualRuntime, records: number[], updates: string[][]): OutlierPlane {
  return new OutlierPlane({
    runtime,
    options: {},
    panicThreshold: 0.5,
    publish: () => records.push(runtime.clock.now()),
    publishOpinions: (changed) => updates.push(changed.map((o) => `${o.id}:${o.transitions.at(-1)!.state}`)),
  });
}

function failingOpinion(node: string, id: string, at: number): EndpointOpinion {
  return {
    node,
    id,
    service: 'web',
    ok: 0,
    refused: 0,
    timeout: 0,
    http5xx: 3,
    other: 0,
    latencyMs: 1,
    transitions: [{ at, state: 'failing' }],
  };
}
