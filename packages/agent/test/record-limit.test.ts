// A registration that would push the node's catalog record past 256 KiB is refused with a 413
// naming the limit, before it is stored; the node keeps publishing, so a later maintenance drain
// still leaves it. Before: the registration was accepted, every later record failed to sign
// (too large) and the drain never reached the catalog. Real registry, CatalogNode and Mesh over
// the in-memory transport (a single node: no peer is needed to see what it publishes).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { MAX_RECORD_BYTES } from '@vigil/protocol';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { CatalogNode, type RecordChange } from '../src/catalog/catalog-node.ts';
import { MemoryCatalogNetwork } from '../src/catalog/memory-transport.ts';
import { ChangeFeed } from '../src/events/change-feed.ts';
import { createHttpServer } from '../src/http/server.ts';
import { registerServiceRoutes } from '../src/http/service-routes.ts';
import { recordOverflow } from '../src/mesh/local-record.ts';
import { Mesh, type MeshMembership } from '../src/mesh/mesh.ts';
import { VirtualRuntime } from '../src/runtime/index.ts';
import { parseServiceRegistration } from '../src/services/registration.ts';
import { RegistryError, ServiceRegistry } from '../src/services/registry.ts';

const log = pino({ level: 'silent' });
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A service body whose meta (64 keys of 500 characters, within the API's bounds) is ~33 KB of record. */
function bulkyBody(i: number) {
  const meta: Record<string, string> = {};
  for (let k = 0; k < 64; k++) meta[`k${k}`] = 'x'.repeat(500);
  return { ID: `bulk-${i}`, Name: 'bulk', Port: 8000 + i, Meta: meta };
}
const bulky = (i: number) => parseServiceRegistration(bulkyBody(i));
/** Seven fit in 256 KiB, the eighth does not. */
const FITTING = 7;

const noMembers: MeshMembership = { members: () => [], on: () => {}, off: () => {}, probeNow: () => false };

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-record-limit-'));
  const key = await generateKeyPair('Ed25519');
  const peerId = peerIdFromPrivateKey(key).toString();
  const runtime = new VirtualRuntime(5);
  const registry = await ServiceRegistry.open({
    dataDir: dir,
    node: 'n1',
    zone: 'z1',
    log,
    admit: (services) => recordOverflow('n1', peerId, services),
  });
  const network = new MemoryCatalogNetwork({ runtime });
  const catalog = await CatalogNode.over(
    { node: 'n1', privateKey: key, log, runtime },
    network.transport({ peerId, address: 'mem:n1' }),
  );
  const published: RecordChange[] = [];
  catalog.on('record', (c) => published.push(c));
  const mesh = new Mesh({
    node: 'n1',
    zone: 'z1',
    nodeAddress: '10.0.0.1',
    catalog,
    membership: noMembers,
    registry,
    feed: new ChangeFeed(1, 64, runtime),
    log,
    failbackHoldDownMs: 0,
    panicThreshold: 0,
    runtime,
  });
  cleanups.push(async () => {
    await mesh.stop();
    await catalog.stop();
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  });
  /** Lets the mesh's publish (a microtask, then signing) finish. */
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
  };
  return { registry, catalog, published, settle };
}

describe('node record size limit', () => {
  it('refuses the registration that would pass 256 KiB, and a later drain still goes out', async () => {
    const { registry, catalog, settle } = await setup();
    for (let i = 1; i <= FITTING; i++) await registry.register(bulky(i));
    await settle();
    expect(catalog.get('n1')?.instances).toHaveLength(FITTING);

    const refused = await registry.register(bulky(FITTING + 1)).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(RegistryError);
    expect((refused as RegistryError).statusCode).toBe(413);
    expect((refused as Error).message).toContain(`${MAX_RECORD_BYTES} bytes (256 KiB)`);
    expect(registry.listServices()).toHaveLength(FITTING);

    await registry.setNodeMaintenance(true, 'drain');
    await settle();
    const record = catalog.get('n1');
    expect(record?.instances).toHaveLength(FITTING);
    expect(record?.instances.every((i) => i.maintenance)).toBe(true);
    // Re-registering an existing service with the same size is not refused.
    await registry.register(bulky(FITTING));
  });

  it('answers the HTTP registration with 413 and the limit', async () => {
    const { registry } = await setup();
    const app = createHttpServer(log);
    registerServiceRoutes(app, { registry, node: 'n1', datacenter: 'dc1' });
    await app.ready();
    cleanups.push(() => app.close());
    const put = (i: number) =>
      app.inject({
        method: 'PUT',
        url: '/v1/agent/service/register',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(bulkyBody(i)),
      });
    for (let i = 1; i <= FITTING; i++) expect((await put(i)).statusCode).toBe(200);
    const res = await put(FITTING + 1);
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toMatch(/over the limit of 262144 bytes \(256 KiB\)/);
  });

  it('counts the instance limit of the record schema too', () => {
    const many = Array.from({ length: 257 }, (_, i) => ({
      service: { ...parseServiceRegistration({ ID: `s${i}`, Name: 's', Port: 1 }).service, zone: 'z1' },
      health: 'passing' as const,
    }));
    expect(recordOverflow('n1', 'peer', many)).toMatch(/instances/);
    expect(recordOverflow('n1', 'peer', many.slice(0, 256))).toBeUndefined();
  });
});
