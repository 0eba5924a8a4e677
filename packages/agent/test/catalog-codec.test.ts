// The catalog's pure parts: record envelope (sign, verify, bounds), newest-wins store, pnet key
// derivation and keystream, dial addresses.

import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Message } from '@libp2p/gossipsub';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { xsalsa20 } from '@noble/ciphers/salsa.js';
import { MAX_INSTANCES_PER_NODE, MAX_RECORD_BYTES, type NodeRecord } from '@vigil/protocol';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import {
  CATALOG_TOPIC,
  decodeEnvelope,
  derivePnetKey,
  dialMultiaddr,
  fastMessageId,
  messageId,
  RecordError,
  RecordStore,
  signRecord,
  swarmKeyFromGossipKey,
  verifyEnvelope,
  XSalsa20Stream,
} from '../src/catalog/index.ts';
import { RecordIntake } from '../src/catalog/record-intake.ts';
import { mergeCatalogs } from '../src/routing/index.ts';
import { VirtualRuntime } from '../src/runtime/index.ts';
import { record, signUnchecked } from './catalog-harness.ts';

async function identity() {
  const key = await generateKeyPair('Ed25519');
  return { key, peerId: peerIdFromPrivateKey(key).toString() };
}

async function rejection(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return err instanceof RecordError ? err.reason : `other: ${(err as Error).message}`;
  }
}

describe('record envelope', () => {
  it('round-trips and verifies under the peer id membership holds', async () => {
    const a = await identity();
    const signed = await signRecord(record('a', a.peerId, { epoch: 1, seq: 1 }), a.key);
    const decoded = decodeEnvelope(signed.envelope);
    expect(decoded.record).toEqual(record('a', a.peerId, { epoch: 1, seq: 1 }));
    await expect(verifyEnvelope(decoded, a.peerId)).resolves.toBeUndefined();
  });

  it('rejects a record for a node whose membership peer id differs (wrong signer)', async () => {
    const a = await identity();
    const mallory = await identity();
    // Mallory signs a record naming herself as the author of node "a".
    const signed = await signRecord(record('a', mallory.peerId, { epoch: 1, seq: 1 }), mallory.key);
    expect(await rejection(verifyEnvelope(decodeEnvelope(signed.envelope), a.peerId))).toBe('wrong-signer');
  });

  it('rejects a record naming the right peer but signed by another key (forged signature)', async () => {
    const a = await identity();
    const mallory = await identity();
    const signed = await signRecord(record('a', a.peerId, { epoch: 1, seq: 1 }), mallory.key);
    expect(await rejection(verifyEnvelope(decodeEnvelope(signed.envelope), a.peerId))).toBe('bad-signature');
  });

  it('rejects a tampered envelope and an unknown node', async () => {
    const a = await identity();
    const signed = await signRecord(record('a', a.peerId, { epoch: 1, seq: 7 }), a.key);
    const tampered = Uint8Array.from(signed.envelope);
    const text = new TextDecoder().decode(tampered.subarray(65)).replace('"seq":7', '"seq":8');
    const forged = new Uint8Array(65 + new TextEncoder().encode(text).length);
    forged.set(tampered.subarray(0, 65));
    forged.set(new TextEncoder().encode(text), 65);
    expect(decodeEnvelope(forged).record.seq).toBe(8);
    expect(await rejection(verifyEnvelope(decodeEnvelope(forged), a.peerId))).toBe('bad-signature');
    expect(await rejection(verifyEnvelope(decodeEnvelope(signed.envelope), undefined))).toBe('unknown-node');
  });

  it('refuses malformed and oversized input', async () => {
    const a = await identity();
    const bad = (bytes: Uint8Array) => rejection(Promise.resolve().then(() => decodeEnvelope(bytes)));
    expect(await bad(new Uint8Array(0))).toBe('malformed');
    expect(await bad(Uint8Array.of(2, ...new Uint8Array(80)))).toBe('malformed');
    expect(await bad(Uint8Array.of(1, ...new Uint8Array(64), ...new TextEncoder().encode('{not json')))).toBe(
      'malformed',
    );
    expect(await bad(Uint8Array.of(1, ...new Uint8Array(64), 0xff, 0xfe))).toBe('malformed');
    const wrongShape = new TextEncoder().encode(JSON.stringify({ node: 'a', peerId: a.peerId, epoch: -1 }));
    expect(await bad(Uint8Array.of(1, ...new Uint8Array(64), ...wrongShape))).toBe('malformed');
    expect(await bad(new Uint8Array(MAX_RECORD_BYTES + 66).fill(1))).toBe('too-large');

    const many: NodeRecord = {
      ...record('a', a.peerId, { epoch: 1, seq: 1 }),
      instances: Array.from({ length: MAX_INSTANCES_PER_NODE + 1 }, (_, i) => ({
        ...record('a', a.peerId, { epoch: 1, seq: 1 }).instances[0]!,
        id: `i${i}`,
      })),
    };
    expect(await rejection(signRecord(many, a.key))).toBe('malformed');
    const huge: NodeRecord = {
      ...record('a', a.peerId, { epoch: 1, seq: 1 }),
      instances: Array.from({ length: 200 }, (_, i) => ({
        ...record('a', a.peerId, { epoch: 1, seq: 1 }).instances[0]!,
        id: `i${i}`,
        meta: Object.fromEntries(Array.from({ length: 20 }, (_, k) => [`k${k}`, 'x'.repeat(100)])),
      })),
    };
    expect(await rejection(signRecord(huge, a.key))).toBe('too-large');
  });
});

describe("other agents' names", () => {
  it('refuses, counts and never throws on records whose names break the local rules', async () => {
    const a = await identity();
    const base = record('a', a.peerId, { epoch: 1, seq: 1 });
    const inst = base.instances[0]!;
    const intake = new RecordIntake({
      node: 'me',
      peerId: 'me',
      privateKey: a.key,
      peerIdOf: (node) => (node === 'a' || node.startsWith('a\n') ? a.peerId : undefined),
      maxNodes: 16,
      log: pino({ level: 'silent' }),
      clock: new VirtualRuntime(1).clock,
      onChange: () => {},
    });
    const hostile = [
      { ...base, node: 'a\n\u001b[31mforged row' },
      { ...base, instances: [{ ...inst, service: 'localhost' }] },
      { ...base, instances: [{ ...inst, service: '10.0.0.1' }] },
      { ...base, instances: [{ ...inst, service: 'web\u001b[2J' }] },
      { ...base, instances: [{ ...inst, id: 'id with spaces' }] },
      { ...base, instances: [{ ...inst, tags: ['x'.repeat(256)] }] },
      { ...base, instances: [{ ...inst, tags: Array.from({ length: 65 }, (_, i) => `t${i}`) }] },
      { ...base, instances: [{ ...inst, meta: { 'consul-x': 'y' } }] },
      { ...base, instances: [{ ...inst, meta: { 'a\u0007': 'y' } }] },
      { ...base, instances: [{ ...inst, meta: { k: 'x'.repeat(513) } }] },
      { ...base, instances: [{ ...inst, zone: 'z\u001b]0;t\u0007' }] },
      { ...base, instances: [{ ...inst, address: '10.0.0.1/evil' }] },
    ];
    for (const [i, value] of hostile.entries()) {
      const envelope = await signUnchecked(value, a.key);
      expect(await intake.fromGossip(envelope, a.peerId), `case ${i}`).toBe('ignore');
      expect(intake.rejected['invalid-name'], `case ${i}`).toBe(i + 1);
    }
    expect(intake.store.size).toBe(0);
    // The same record with lawful names is taken.
    expect(await intake.fromGossip(await signUnchecked(base, a.key), a.peerId)).toBe('accept');
    // And an agent cannot publish such a record either.
    expect(await rejection(signRecord(hostile[1]!, a.key))).toBe('invalid-name');
  });
});

describe('record store', () => {
  it('keeps the newest (epoch, seq) per node whatever the delivery order and duplicates', async () => {
    const a = await identity();
    const versions = [
      { epoch: 1, seq: 1 },
      { epoch: 1, seq: 5 },
      { epoch: 2, seq: 0 },
      { epoch: 2, seq: 3 },
      { epoch: 1, seq: 9 },
    ];
    const signed = await Promise.all(versions.map((v) => signRecord(record('a', a.peerId, v), a.key)));
    for (let trial = 0; trial < 50; trial++) {
      const deliveries = [...signed, ...signed].sort(() => Math.random() - 0.5);
      const store = new RecordStore(16);
      for (const s of deliveries) store.merge(s);
      expect(store.get('a')?.record).toMatchObject({ epoch: 2, seq: 3 });
    }
    const store = new RecordStore(16);
    expect(store.merge(signed[3]!)).toMatchObject({ changed: true });
    expect(store.merge(signed[1]!)).toEqual({ changed: false, reason: 'stale' });
    expect(store.merge(signed[3]!)).toEqual({ changed: false, reason: 'duplicate' });
    expect(store.get('a')?.record.seq).toBe(3);
  });

  it('settles two records of one version the way routing merges them, whichever arrives first', async () => {
    // A buggy author that reuses a version: the production store and the routing merge must pick
    // the same record, else two agents hold different catalogs forever (they exchange versions only).
    const a = await identity();
    const passing = await signRecord(record('a', a.peerId, { epoch: 1, seq: 4 }, 'passing'), a.key);
    const critical = await signRecord(record('a', a.peerId, { epoch: 1, seq: 4 }, 'critical'), a.key);
    const winner = mergeCatalogs([passing.record], [critical.record])[0];
    for (const order of [
      [passing, critical],
      [critical, passing],
    ]) {
      const store = new RecordStore(16);
      for (const s of order) store.merge(s);
      expect(store.get('a')?.record).toEqual(winner);
    }
    const store = new RecordStore(16);
    store.merge(passing);
    store.merge(critical);
    const loser = store.get('a')?.record === passing.record ? critical : passing;
    expect(store.isNewer(loser)).toBe(false);
    expect(store.merge(loser)).toEqual({ changed: false, reason: 'stale' });
  });

  it('computes what a digest lacks, and bounds the node count', async () => {
    const a = await identity();
    const store = new RecordStore(2);
    store.merge(await signRecord(record('a', a.peerId, { epoch: 1, seq: 2 }), a.key));
    store.merge(await signRecord(record('b', a.peerId, { epoch: 1, seq: 2 }), a.key));
    expect(store.merge(await signRecord(record('c', a.peerId, { epoch: 1, seq: 1 }), a.key))).toEqual({
      changed: false,
      reason: 'full',
    });
    const digest = new Map([
      ['a', { node: 'a', epoch: 1, seq: 2 }],
      ['b', { node: 'b', epoch: 1, seq: 1 }],
    ]);
    expect(store.missingFrom(digest).map((s) => s.record.node)).toEqual(['b']);
    expect(store.missingFrom(new Map()).map((s) => s.record.node)).toEqual(['a', 'b']);
  });
});

describe('pnet key', () => {
  it('is derived deterministically from the gossip key, differs per key, and is not the key itself', () => {
    const k1 = new Uint8Array(32).fill(1);
    const k2 = new Uint8Array(32).fill(2);
    expect(derivePnetKey(k1)).toEqual(derivePnetKey(Uint8Array.from(k1)));
    expect(derivePnetKey(k1)).not.toEqual(derivePnetKey(k2));
    expect(derivePnetKey(k1)).not.toEqual(k1);
    expect(derivePnetKey(new Uint8Array(16).fill(1))).toHaveLength(32);
    expect(new TextDecoder().decode(swarmKeyFromGossipKey(k1))).toMatch(
      /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/,
    );
    expect(() => derivePnetKey(new Uint8Array(7))).toThrow(/16, 24 or 32 bytes/);
  });
});

describe('gossip message ids', () => {
  it('name the publisher: the same bytes from another peer are another message', async () => {
    const a = await generateKeyPair('Ed25519');
    const m = await generateKeyPair('Ed25519');
    const data = new TextEncoder().encode('record bytes');
    const msg = (key: typeof a) =>
      ({ type: 'signed', from: peerIdFromPrivateKey(key), topic: CATALOG_TOPIC, data }) as unknown as Message;
    expect(Buffer.from(messageId(msg(a))).equals(Buffer.from(messageId(msg(a))))).toBe(true);
    expect(Buffer.from(messageId(msg(a))).equals(Buffer.from(messageId(msg(m))))).toBe(false);
    const raw = (key: typeof a) => ({
      from: peerIdFromPrivateKey(key).toMultihash().bytes,
      topic: CATALOG_TOPIC,
      data,
    });
    expect(fastMessageId(raw(a))).toBe(fastMessageId(raw(a)));
    expect(fastMessageId(raw(a))).not.toBe(fastMessageId(raw(m)));
    expect(fastMessageId(raw(a))).toBe(Buffer.from(messageId(msg(a))).toString('base64'));
  });
});

describe('pnet keystream', () => {
  it('XORs chunk by chunk exactly as one pass over the whole stream (any chunk boundaries)', () => {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const nonce = crypto.getRandomValues(new Uint8Array(24));
    const whole = crypto.getRandomValues(new Uint8Array(20_000));
    const expected = xsalsa20(key, nonce, whole);
    for (let trial = 0; trial < 20; trial++) {
      const stream = new XSalsa20Stream(key, nonce);
      const parts: Uint8Array[] = [];
      let at = 0;
      while (at < whole.length) {
        const len = Math.min(whole.length - at, [0, 1, 63, 64, 65, 700, 4096][Math.floor(Math.random() * 7)]!);
        parts.push(stream.update(whole.subarray(at, at + len)));
        at += len;
      }
      expect(Buffer.concat(parts).equals(Buffer.from(expected))).toBe(true);
    }
    // decrypting with a second stream under the same nonce restores the plaintext
    const enc = new XSalsa20Stream(key, nonce).update(whole);
    expect(Buffer.from(new XSalsa20Stream(key, nonce).update(enc)).equals(Buffer.from(whole))).toBe(true);
  });
});

describe('dial addresses', () => {
  it('builds /p2p/ multiaddrs from HOST:PORT tags or multiaddrs', async () => {
    const { peerId } = await identity();
    expect(dialMultiaddr('10.0.0.5:7947', peerId).toString()).toBe(`/ip4/10.0.0.5/tcp/7947/p2p/${peerId}`);
    expect(dialMultiaddr('[::1]:7947', peerId).toString()).toBe(`/ip6/::1/tcp/7947/p2p/${peerId}`);
    expect(dialMultiaddr('agent-3.local:7947', peerId).toString()).toBe(`/dns/agent-3.local/tcp/7947/p2p/${peerId}`);
    expect(dialMultiaddr('/ip4/1.2.3.4/tcp/1', peerId).toString()).toBe(`/ip4/1.2.3.4/tcp/1/p2p/${peerId}`);
    const other = (await identity()).peerId;
    expect(() => dialMultiaddr(`/ip4/1.2.3.4/tcp/1/p2p/${other}`, peerId)).toThrow(/names peer/);
    expect(() => dialMultiaddr('no-port', peerId)).toThrow(/no port/);
  });
});
