// Opinion updates (catalog/opinion-codec.ts, opinion-intake.ts, opinion-overlay.ts): the small
// messages that carry a host's changed opinions ahead of its record. Hostile input is counted and
// dropped; the overlay is a join with the records, so delivery order does not matter.

import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { type EndpointOpinion, MAX_OPINIONS_PER_NODE, MAX_OPINIONS_PER_UPDATE, type NodeRecord } from '@vigil/protocol';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import {
  decodeOpinionUpdate,
  encodeOpinionUpdate,
  MAX_OPINION_UPDATE_BYTES,
  OpinionIntake,
  OpinionOverlay,
  type OpinionUpdate,
  RecordError,
  RecordStore,
  signRecord,
} from '../src/catalog/index.ts';
import { VirtualRuntime } from '../src/runtime/index.ts';
import { record } from './catalog-harness.ts';

function opinion(id: string, state: 'failing' | 'ok' | 'idle', at: number): EndpointOpinion {
  return {
    node: 'b',
    id,
    service: 'web',
    ok: state === 'ok' ? 3 : 0,
    refused: 0,
    timeout: 0,
    http5xx: state === 'failing' ? 2 : 0,
    other: 0,
    latencyMs: 4,
    transitions: [{ at, state }],
  };
}

const update = (seq: number, ...opinions: EndpointOpinion[]): OpinionUpdate => ({ node: 'a', epoch: 1, seq, opinions });
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

function reason(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof RecordError ? err.reason : `other: ${(err as Error).message}`;
  }
}

describe('opinion update codec', () => {
  it('round-trips', () => {
    const u = update(3, opinion('web-b', 'failing', 100));
    expect(decodeOpinionUpdate(encodeOpinionUpdate(u))).toEqual(u);
  });

  it('refuses malformed, oversized and badly named input, naming the reason', () => {
    const good = update(3, opinion('web-b', 'failing', 100));
    const cases: [string, Uint8Array][] = [
      ['not JSON', new TextEncoder().encode('{"node":')],
      ['not UTF-8', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])],
      ['not an object', bytes([1, 2, 3])],
      ['no opinions', bytes({ ...good, opinions: [] })],
      ['too many opinions', bytes({ ...good, opinions: Array(MAX_OPINIONS_PER_UPDATE + 1).fill(good.opinions[0]) })],
      ['negative seq', bytes({ ...good, seq: -1 })],
      ['fractional epoch', bytes({ ...good, epoch: 1.5 })],
      ['no transitions', bytes({ ...good, opinions: [{ ...good.opinions[0], transitions: [] }] })],
      [
        'unknown state',
        bytes({ ...good, opinions: [{ ...good.opinions[0], transitions: [{ at: 1, state: 'dead' }] }] }),
      ],
      ['negative count', bytes({ ...good, opinions: [{ ...good.opinions[0], http5xx: -1 }] })],
      ['node too long', bytes({ ...good, node: 'a'.repeat(300) })],
    ];
    for (const [name, data] of cases)
      expect(
        reason(() => decodeOpinionUpdate(data)),
        name,
      ).toBe('malformed');
    expect(reason(() => decodeOpinionUpdate(bytes({ ...good, node: 'a\n\u001b[31mforged' })))).toBe('invalid-name');
    expect(reason(() => decodeOpinionUpdate(new Uint8Array(MAX_OPINION_UPDATE_BYTES + 1)))).toBe('too-large');
    // Our own updates pass the same checks before they go out.
    expect(reason(() => encodeOpinionUpdate({ ...good, opinions: [] }))).toBe('malformed');
  });
});

describe('opinion intake', () => {
  async function setup() {
    const key = await generateKeyPair('Ed25519');
    const a = peerIdFromPrivateKey(key).toString();
    const mallory = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
    const store = new RecordStore(16);
    const changed: string[] = [];
    const intake = new OpinionIntake({
      node: 'me',
      peerIdOf: (node) => (node === 'a' ? a : undefined),
      store,
      log: pino({ level: 'silent' }),
      clock: new VirtualRuntime(1).clock,
      onChange: (node) => changed.push(node),
    });
    const held = (r: NodeRecord) => async () => {
      const signed = await signRecord(r, key);
      store.merge(signed);
      intake.recordHeld(signed.record);
      return signed.record;
    };
    return { a, mallory, store, intake, changed, held, base: record('a', a, { epoch: 1, seq: 5 }) };
  }

  it('counts and drops hostile updates without throwing; a good one is taken', async () => {
    const { a, mallory, intake, changed, held, base } = await setup();
    const rec = await held(base)();
    const good = encodeOpinionUpdate(update(6, opinion('web-b', 'failing', 100)));
    expect(await intake.fromGossip(new Uint8Array([1, 2, 3]), a)).toBe('reject');
    expect(await intake.fromGossip(new Uint8Array(MAX_OPINION_UPDATE_BYTES + 1), a)).toBe('reject');
    // Published by another member than the one membership holds for node "a".
    expect(await intake.fromGossip(good, mallory)).toBe('reject');
    // A node membership does not know (yet): dropped, the relay is not penalised.
    expect(await intake.fromGossip(encodeOpinionUpdate({ ...update(6, opinion('x', 'ok', 1)), node: 'z' }), a)).toBe(
      'ignore',
    );
    expect(intake.rejected).toMatchObject({ malformed: 1, 'too-large': 1, 'wrong-signer': 1, 'unknown-node': 1 });
    expect(changed).toEqual([]);
    expect(intake.merge(rec).opinions).toBeUndefined();

    expect(await intake.fromGossip(good, a)).toBe('accept');
    expect(changed).toEqual(['a']);
    expect(intake.merge(rec).opinions?.map((o) => o.transitions[0]!.state)).toEqual(['failing']);
    // Not newer than the record held: stale, dropped, not forwarded.
    expect(await intake.fromGossip(encodeOpinionUpdate(update(5, opinion('web-c', 'ok', 1))), a)).toBe('ignore');
    expect(intake.counts).toMatchObject({ accepted: 1, stale: 1 });
  });

  it('a record at a later version supersedes the updates before it', async () => {
    const { a, intake, held, base } = await setup();
    await held(base)();
    expect(await intake.fromGossip(encodeOpinionUpdate(update(6, opinion('web-b', 'failing', 100))), a)).toBe('accept');
    expect(intake.pending).toBe(1);
    // The author's next record carries the opinion as it stands then (here: ok again).
    const later = await held({ ...base, seq: 7, opinions: [opinion('web-b', 'ok', 200)] })();
    expect(intake.pending).toBe(0);
    expect(intake.merge(later).opinions?.map((o) => o.transitions[0]!.state)).toEqual(['ok']);
  });
});

describe('opinion overlay', () => {
  it('reads the same whatever order updates and records arrive in', () => {
    const rec5: NodeRecord = { ...record('a', 'p', { epoch: 1, seq: 5 }), opinions: [opinion('web-b', 'ok', 10)] };
    const rec9: NodeRecord = {
      ...record('a', 'p', { epoch: 1, seq: 9 }),
      opinions: [opinion('web-b', 'idle', 40), opinion('web-c', 'failing', 30)],
    };
    const deliveries: (['u', OpinionUpdate] | ['r', NodeRecord])[] = [
      ['r', rec5],
      ['u', update(6, opinion('web-b', 'failing', 20))],
      ['u', update(8, opinion('web-c', 'failing', 30))],
      ['u', update(10, opinion('web-d', 'failing', 50))],
      ['r', rec9],
    ];
    const read = (order: number[]) => {
      const overlay = new OpinionOverlay();
      let held: NodeRecord | undefined;
      for (const i of order) {
        const [kind, value] = deliveries[i]!;
        if (kind === 'u') {
          overlay.apply(value, held);
        } else if (held === undefined || value.seq > held.seq) {
          held = value;
          overlay.recordHeld('a', value);
        }
      }
      return held === undefined ? undefined : overlay.merge(held).opinions;
    };
    const expected = read([0, 1, 2, 3, 4]);
    expect(expected?.map((o) => `${o.id}:${o.transitions[0]!.state}`)).toEqual([
      'web-b:idle',
      'web-c:failing',
      'web-d:failing',
    ]);
    // Every order of the five deliveries.
    const perms = (xs: number[]): number[][] =>
      xs.length <= 1
        ? [xs]
        : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
    for (const order of perms([0, 1, 2, 3, 4])) {
      expect(read(order), order.join(',')).toEqual(expected);
    }
  });

  it('holds at most MAX_OPINIONS_PER_NODE pending endpoints per node', () => {
    const overlay = new OpinionOverlay();
    for (let i = 0; i < MAX_OPINIONS_PER_NODE; i++) {
      expect(overlay.apply(update(i + 1, opinion(`e${i}`, 'failing', i)), undefined)).toBe('applied');
    }
    expect(overlay.apply(update(1000, opinion('one-more', 'failing', 1)), undefined)).toBe('full');
    // A newer opinion on an endpoint already held still gets in.
    expect(overlay.apply(update(1001, opinion('e0', 'ok', 2)), undefined)).toBe('applied');
    expect(overlay.size).toBe(MAX_OPINIONS_PER_NODE);
  });
});
