// Gossip key rotation (`vigil keys` / `serf keys`) across whole MembershipServices in virtual
// time: each operation is a Serf key query that travels encrypted over the in-memory gossip
// network (sim/membership-cluster.ts), and every member persists its keyring to its data dir.
// The same code against real Serf agents runs in test/integration/serf-interop.test.ts.

import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { KeyringReport } from '../src/membership/key-manager.ts';
import { type ClusterNode, MembershipCluster } from '../src/sim/membership-cluster.ts';
import { forEachSeed, replayCommand, simSeeds } from '../src/sim/node-sim.ts';

const FILE = 'test/membership-sim-key-rotation.test.ts';
const key = (fill: number) => new Uint8Array(32).fill(fill);
const b64 = (k: Uint8Array) => Buffer.from(k).toString('base64');
/** Longer than any key query takes here (Serf's timeout for a handful of nodes is ~1-2 s). */
const QUERY_LIMIT_MS = 20_000;

const clusters: MembershipCluster[] = [];
afterEach(async () => {
  await Promise.all(clusters.splice(0).map((c) => c.stop()));
});

async function start(seed: number, nodes: number, keysOf?: (i: number) => Uint8Array[] | undefined) {
  const cluster = await MembershipCluster.start({ seed, nodes, keys: [key(1)], keysOf });
  clusters.push(cluster);
  const everyoneAlive = () =>
    cluster.nodes.every((n) => n.service.members().filter((m) => m.status === 'alive').length === nodes);
  expect(await cluster.runUntil(everyoneAlive, 5_000)).toBe(true);
  return cluster;
}

function seeds(name: string, body: (seed: number) => Promise<void>): Promise<void> {
  return forEachSeed(simSeeds([21, 22]), (seed) => replayCommand(FILE, name, seed), body);
}

describe('key rotation across MembershipServices in virtual time', () => {
  it('installs, uses and removes a key on every member, persisting each keyring', () =>
    seeds('persisting each keyring', async (seed) => {
      const cluster = await start(seed, 5);
      const run = (n: ClusterNode, op: 'install' | 'use' | 'remove' | 'list', k?: Uint8Array) =>
        cluster.until(n.service.keys.run(op, k), QUERY_LIMIT_MS);
      const [m0, m1, m2] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];

      expect(await run(m0, 'install', key(2))).toMatchObject({ numNodes: 5, numResponses: 5, numErrors: 0 });
      expect(await run(m1, 'use', key(2))).toMatchObject({ numResponses: 5, numErrors: 0 });
      for (const n of cluster.nodes) expect(n.service.keys.localKeys()?.keys).toEqual([b64(key(2)), b64(key(1))]);
      // Gossip still flows, now encrypted with the new primary: nobody was lost on the way.
      await cluster.run(3_000);
      for (const n of cluster.nodes) expect(n.service.members().every((m) => m.status === 'alive')).toBe(true);

      // The primary cannot be removed: each member refuses and says why.
      const refused = await run(m2, 'remove', key(2));
      expect(refused.numErrors).toBe(5);
      expect(refused.messages.n0).toMatch(/primary key cannot be removed/);

      expect(await run(m2, 'remove', key(1))).toMatchObject({ numResponses: 5, numErrors: 0 });
      const list = await run(m0, 'list');
      expect(list.keys).toEqual({ [b64(key(2))]: 5 });
      expect(list.primaryKeys).toEqual({ [b64(key(2))]: 5 });
      for (const n of cluster.nodes) {
        expect(n.keyChanges).toEqual([2, 2, 1]);
        expect(await n.dataDir.readKeyring()).toEqual([key(2)]);
        const file = await readFile(n.dataDir.file('keyring'), 'utf8');
        expect(file.trim().startsWith('[')).toBe(true);
      }
      // The old key is gone everywhere, and the cluster still gossips on the new one alone.
      await cluster.run(3_000);
      for (const n of cluster.nodes) expect(n.service.members().every((m) => m.status === 'alive')).toBe(true);
      expect(Object.values(m0.service.counters.drops).reduce((a, b) => a + b, 0)).toBe(0);
    }));

  it('reports members that did not answer before the timeout', () =>
    seeds('did not answer', async (seed) => {
      const cluster = await start(seed, 3);
      const [m0, m1, m2] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
      // n2 is cut off just as the query starts: still a member in n0's view, but unreachable.
      cluster.network.partition([[m0.address, m1.address], [m2.address]]);
      const report = await cluster.until(m0.service.keys.run('install', key(4)), QUERY_LIMIT_MS);
      expect(report).toMatchObject({ numNodes: 3, numResponses: 2, numErrors: 0, unanswered: ['n2'] });
      expect(m2.service.keys.localKeys()?.keys).toEqual([b64(key(1))]);
    }));

  it('runs one operation at a time, and trims a key list that would not fit a response', () =>
    seeds('one operation at a time', async (seed) => {
      const many = Array.from({ length: 58 }, (_, i) => key(i + 2));
      const cluster = await start(seed, 2, (i) => (i === 1 ? [key(1), ...many] : [key(1), key(2)]));
      const [m0] = cluster.nodes as [ClusterNode];
      // Asked back to back: the list must see the use's result on both members, which it only
      // does if it waits for the use to finish (one query on the wire at a time).
      const done: string[] = [];
      const noting = (op: 'use' | 'list', p: Promise<KeyringReport>) =>
        p.then((r) => {
          done.push(op);
          return r;
        });
      const use = noting('use', m0.service.keys.run('use', key(2)));
      const list = noting('list', m0.service.keys.run('list'));
      const [used, report] = await cluster.until(Promise.all([use, list]), 2 * QUERY_LIMIT_MS);
      expect(done).toEqual(['use', 'list']);
      expect(used.numErrors).toBe(0);
      expect(report.numErrors).toBe(0);
      // n1's answer keeps its primary (first) and drops keys from the end.
      expect(report.keys[b64(key(2))]).toBe(2);
      expect(report.primaryKeys).toEqual({ [b64(key(2))]: 2 });
      expect(Object.keys(report.keys).length).toBeLessThan(59);
      expect(report.messages.n1).toMatch(/^truncated key list response, showing first \d+ of 59 keys$/);
    }));
});
