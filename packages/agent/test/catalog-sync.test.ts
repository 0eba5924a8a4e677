// The anti-entropy stream against a hostile peer: malformed frames close the stream, are
// counted, and leave the agent working. And stop() leaves nothing running.

import type { Stream } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import * as lp from 'it-length-prefixed';
import type { Libp2p } from 'libp2p';
import { afterEach, describe, expect, it } from 'vitest';
import { SYNC_PROTOCOL, SYNC_PROTOCOL_V2, signRecord } from '../src/catalog/index.ts';
import { digestSummary } from '../src/catalog/sync-protocol.ts';
import { Cluster, fullyConnected, gossipKey, rawLibp2p, record, signUnchecked } from './catalog-harness.ts';
import { waitFor } from './helpers/wait.ts';

const KEY = gossipKey(7);
let cluster = new Cluster();
let raw: Libp2p | undefined;
afterEach(async () => {
  await raw?.stop();
  raw = undefined;
  await cluster.stop();
  cluster = new Cluster();
});

async function rawPeer() {
  const peer = await rawLibp2p(KEY);
  raw = peer.node;
  return peer;
}

/** Writes `bytes` on a fresh sync stream, then reads until the agent closes or resets it. */
async function sendRaw(
  node: Libp2p,
  target: string,
  bytes: Uint8Array[],
  halfClose: boolean,
  protocol = SYNC_PROTOCOL,
): Promise<string> {
  const stream: Stream = await node.dialProtocol(multiaddr(target), protocol, {
    signal: AbortSignal.timeout(5_000),
  });
  for (const b of bytes) stream.send(b);
  if (halfClose) await stream.close();
  try {
    for await (const _ of stream) {
      // drain whatever the agent sends (its digest) until it closes or resets
    }
    return 'closed';
  } catch (err) {
    return `reset: ${(err as Error).name}`;
  }
}

const frame = (type: number, payload: Uint8Array) => lp.encode.single(Uint8Array.of(type, ...payload)).subarray();
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

/** Sends `frames` on a fresh stream of `protocol`, half-closes, and returns the frame types received. */
async function exchangeRaw(node: Libp2p, target: string, protocol: string, frames: Uint8Array[]): Promise<number[]> {
  const stream = await node.dialProtocol(multiaddr(target), protocol, { signal: AbortSignal.timeout(5_000) });
  for (const f of frames) stream.send(f);
  await stream.close();
  const types: number[] = [];
  for await (const f of lp.decode(stream)) types.push(f.subarray()[0]!);
  return types;
}

describe('digest summary', () => {
  it('ignores order and changes with any version', () => {
    const a = { node: 'a', epoch: 1, seq: 2 };
    const b = { node: 'b', epoch: 1, seq: 1 };
    expect(digestSummary([a, b])).toEqual(digestSummary([b, a]));
    expect(digestSummary([a, b])).toHaveLength(16);
    expect(digestSummary([a, b])).not.toEqual(digestSummary([a, { ...b, seq: 2 }]));
    expect(digestSummary([a, b])).not.toEqual(digestSummary([a, { ...b, epoch: 2 }]));
    expect(digestSummary([a, b])).not.toEqual(digestSummary([a]));
    expect(digestSummary([])).not.toEqual(digestSummary([a]));
  });
});

describe('catalog anti-entropy stream', { timeout: 60_000 }, () => {
  it('closes the stream on malformed frames, counts them, and keeps working', async () => {
    const a = await cluster.add('a', { gossipKeys: [KEY] });
    const b = await cluster.add('b', { gossipKeys: [KEY] });
    const evil = await rawPeer();
    const evilPeer = {
      node: 'evil',
      peerId: evil.peerId,
      multiaddr: evil.node.getMultiaddrs()[0]!.toString(),
    };
    cluster.directory.set('evil', evil.peerId);
    a.catalog.setPeers([a.peer(), b.peer(), evilPeer]);
    b.catalog.setPeers([a.peer(), b.peer()]);
    await waitFor(() => fullyConnected([a, b]), 'a-b', 20_000);
    await a.catalog.publish(record('a', a.peer().peerId, { epoch: 1, seq: 1 }));
    const target = a.catalog.listenAddresses()[0]!;

    const signedByEvil = await signRecord(record('evil', evil.peerId, { epoch: 1, seq: 1 }), evil.key);
    const cases: Array<{ name: string; bytes: Uint8Array[]; halfClose: boolean }> = [
      { name: 'record before digest', bytes: [frame(0x02, signedByEvil.envelope)], halfClose: true },
      { name: 'unknown frame type', bytes: [frame(0x7f, json([]))], halfClose: true },
      { name: 'digest not JSON', bytes: [frame(0x01, new TextEncoder().encode('{{{'))], halfClose: true },
      { name: 'digest wrong shape', bytes: [frame(0x01, json([['a', -1, 'x']]))], halfClose: true },
      {
        name: 'digest too long',
        bytes: [frame(0x01, json(Array.from({ length: 5000 }, (_, i) => [`n${i}`, 1, 1])))],
        halfClose: true,
      },
      { name: 'garbage record after digest', bytes: [frame(0x01, json([])), frame(0x02, json({}))], halfClose: true },
      {
        name: 'empty frame',
        bytes: [frame(0x01, json([])), lp.encode.single(new Uint8Array(0)).subarray()],
        halfClose: true,
      },
      { name: 'varint too long', bytes: [new Uint8Array(16).fill(0xff)], halfClose: false },
      { name: 'frame over the size limit', bytes: [Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x01)], halfClose: false },
      { name: 'truncated frame', bytes: [Uint8Array.of(100, 1, 2, 3)], halfClose: true },
      { name: 'nothing at all', bytes: [], halfClose: true },
    ];
    for (const [i, c] of cases.entries()) {
      const outcome = await sendRaw(evil.node, target, c.bytes, c.halfClose);
      expect(outcome, c.name).toMatch(/closed|reset/);
      await waitFor(() => a.catalog.stats().syncMalformed >= i + 1, `malformed counted: ${c.name}`, 10_000);
    }
    expect(a.catalog.stats().syncMalformed).toBe(cases.length);
    // Nothing from the hostile peer was taken.
    expect(a.catalog.get('evil')).toBeUndefined();

    // A well-formed exchange from the same peer works: empty digest in, a's record out, then the
    // evil peer's own (validly signed, membership-approved) record is taken.
    const stream = await evil.node.dialProtocol(multiaddr(target), SYNC_PROTOCOL);
    stream.send(frame(0x01, json([])));
    const received: number[] = [];
    const reading = (async () => {
      for await (const f of lp.decode(stream)) received.push(f.subarray()[0]!);
    })();
    await waitFor(() => received.length >= 2, 'digest and record from a', 10_000);
    stream.send(frame(0x02, signedByEvil.envelope));
    await stream.close();
    await reading;
    expect(received).toEqual([0x01, 0x02]);
    await waitFor(() => a.catalog.get('evil')?.seq === 1, 'valid synced record', 10_000);

    // And the agent is unharmed: gossip and anti-entropy between honest peers still work.
    await a.catalog.publish(record('a', a.peer().peerId, { epoch: 1, seq: 2 }));
    await waitFor(() => b.catalog.get('a')?.seq === 2, 'gossip still works', 20_000);
    await expect(b.catalog.syncWith(a.peer().peerId)).resolves.toMatchObject({ sent: 0 });
    expect(b.catalog.get('evil')?.seq).toBe(1);
  });

  it("skips and counts another agent's record whose names break the local rules, and keeps the exchange", async () => {
    const a = await cluster.add('a', { gossipKeys: [KEY] });
    const evil = await rawPeer();
    cluster.directory.set('evil', evil.peerId);
    cluster.directory.set('evil2', evil.peerId);
    a.catalog.setPeers([
      a.peer(),
      { node: 'evil', peerId: evil.peerId, multiaddr: evil.node.getMultiaddrs()[0]!.toString() },
    ]);
    const target = a.catalog.listenAddresses()[0]!;
    const base = record('evil', evil.peerId, { epoch: 1, seq: 1 });
    // A service named localhost would capture the SDK's http://localhost requests on every agent.
    const hijack = await signUnchecked(
      { ...base, instances: [{ ...base.instances[0]!, service: 'localhost' }] },
      evil.key,
    );
    const valid = await signRecord(record('evil2', evil.peerId, { epoch: 1, seq: 1 }), evil.key);
    const stream = await evil.node.dialProtocol(multiaddr(target), SYNC_PROTOCOL);
    stream.send(frame(0x01, json([])));
    stream.send(frame(0x02, hijack));
    stream.send(frame(0x02, valid.envelope));
    await stream.close();
    for await (const _ of stream) {
      // a's digest and records
    }
    await waitFor(() => a.catalog.get('evil2')?.seq === 1, 'the valid record after the refused one', 10_000);
    expect(a.catalog.get('evil')).toBeUndefined();
    expect(a.catalog.stats().rejected['invalid-name']).toBe(1);
    expect(a.catalog.stats().syncMalformed).toBe(0);
  });

  it('v2: matching summaries end the exchange, different ones fall back to digests', async () => {
    const a = await cluster.add('a', { gossipKeys: [KEY] });
    const evil = await rawPeer();
    cluster.directory.set('evil', evil.peerId);
    a.catalog.setPeers([
      a.peer(),
      { node: 'evil', peerId: evil.peerId, multiaddr: evil.node.getMultiaddrs()[0]!.toString() },
    ]);
    await a.catalog.publish(record('a', a.peer().peerId, { epoch: 1, seq: 3 }));
    const target = a.catalog.listenAddresses()[0]!;
    const summaryOf = (entries: Array<{ node: string; epoch: number; seq: number }>) =>
      frame(0x03, digestSummary(entries));

    // Same store: a's summary back, nothing else (no digest, no records).
    const same = summaryOf([{ node: 'a', epoch: 1, seq: 3 }]);
    await expect(exchangeRaw(evil.node, target, SYNC_PROTOCOL_V2, [same])).resolves.toEqual([0x03]);
    // An older version of a's record: summary, then the digest exchange and a's record.
    const older = summaryOf([{ node: 'a', epoch: 1, seq: 2 }]);
    const theirs = frame(0x01, json([['a', 1, 2]]));
    await expect(exchangeRaw(evil.node, target, SYNC_PROTOCOL_V2, [older, theirs])).resolves.toEqual([
      0x03, 0x01, 0x02,
    ]);
    // And a record the peer sends after the digests is taken.
    const signedByEvil = await signRecord(record('evil', evil.peerId, { epoch: 1, seq: 1 }), evil.key);
    const withRecord = [summaryOf([]), frame(0x01, json([])), frame(0x02, signedByEvil.envelope)];
    await expect(exchangeRaw(evil.node, target, SYNC_PROTOCOL_V2, withRecord)).resolves.toEqual([0x03, 0x01, 0x02]);
    await waitFor(() => a.catalog.get('evil')?.seq === 1, 'record synced over v2', 10_000);
    expect(a.catalog.stats().syncMalformed).toBe(0);

    // Broken v2 streams are closed and counted.
    const cases: Array<{ name: string; bytes: Uint8Array[] }> = [
      { name: 'digest first', bytes: [frame(0x01, json([]))] },
      { name: 'summary too short', bytes: [frame(0x03, new Uint8Array(15))] },
      { name: 'summary too long', bytes: [frame(0x03, new Uint8Array(17))] },
      { name: 'nothing after a different summary', bytes: [summaryOf([])] },
      {
        name: 'a frame after matching summaries',
        bytes: [
          summaryOf(a.catalog.records().map((r) => ({ node: r.node, epoch: r.epoch, seq: r.seq }))),
          frame(0x01, json([])),
        ],
      },
    ];
    for (const [i, c] of cases.entries()) {
      const outcome = await sendRaw(evil.node, target, c.bytes, true, SYNC_PROTOCOL_V2);
      expect(outcome, c.name).toMatch(/closed|reset/);
      await waitFor(() => a.catalog.stats().syncMalformed >= i + 1, `malformed counted: ${c.name}`, 10_000);
    }
    expect(a.catalog.stats().syncMalformed).toBe(cases.length);
  });

  it('dials an agent that speaks only v1 (an older release) with v1', async () => {
    const a = await cluster.add('a', { gossipKeys: [KEY] });
    const old = await rawPeer();
    cluster.directory.set('old', old.peerId);
    const oldRecord = await signRecord(record('old', old.peerId, { epoch: 1, seq: 1 }), old.key);
    const seen: number[] = [];
    await old.node.handle(SYNC_PROTOCOL, async (stream) => {
      stream.send(frame(0x01, json([])));
      stream.send(frame(0x02, oldRecord.envelope));
      await stream.close();
      for await (const f of lp.decode(stream)) seen.push(f.subarray()[0]!);
    });
    a.catalog.setPeers([
      a.peer(),
      { node: 'old', peerId: old.peerId, multiaddr: old.node.getMultiaddrs()[0]!.toString() },
    ]);
    await a.catalog.publish(record('a', a.peer().peerId, { epoch: 1, seq: 1 }));
    await waitFor(() => a.catalog.stats().connectedPeers === 1 || undefined, 'a dialled old', 20_000);
    await expect(a.catalog.syncWith(old.peerId)).resolves.toMatchObject({ sent: 1, received: 1, accepted: 1 });
    await waitFor(() => seen.length >= 2 || undefined, 'old got the digest and a record', 10_000);
    expect(seen.slice(0, 2)).toEqual([0x01, 0x02]);
    expect(a.catalog.get('old')?.seq).toBe(1);
  });

  it('stop() closes every socket and timer it opened', async () => {
    const kinds = ['TCPServerWrap', 'TCPSocketWrap', 'Timeout'];
    const count = () => {
      const info = process.getActiveResourcesInfo();
      return Object.fromEntries(kinds.map((k) => [k, info.filter((r) => r === k).length]));
    };
    const before = count();
    const nodes = await Promise.all(
      ['a', 'b', 'c'].map((n) => cluster.add(n, { gossipKeys: [KEY], syncIntervalMs: 200 })),
    );
    cluster.connect();
    await waitFor(() => fullyConnected(nodes), 'connected', 20_000);
    for (const n of nodes) await n.catalog.publish(record(n.name, n.peer().peerId, { epoch: 1, seq: 1 }));
    await waitFor(() => nodes.every((n) => n.catalog.records().length === 3), 'records', 20_000);
    await waitFor(() => nodes.every((n) => n.catalog.stats().syncRuns >= 2), 'periodic syncs', 20_000);
    expect(count().TCPServerWrap).toBeGreaterThan(before.TCPServerWrap!);

    await cluster.stop();
    await waitFor(
      () => {
        const now = count();
        return kinds.every((k) => now[k]! <= before[k]!) || undefined;
      },
      `resources back to ${JSON.stringify(before)} (now ${JSON.stringify(count())})`,
      10_000,
    );
    // stop() is idempotent and a stopped node refuses to publish.
    await nodes[0]!.catalog.stop();
    await expect(nodes[0]!.catalog.publish(record('a', nodes[0]!.peer().peerId, { epoch: 1, seq: 9 }))).rejects.toThrow(
      /stopped/,
    );
  });
});
