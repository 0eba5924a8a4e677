import type { InstanceRecord } from '@vigil/protocol';
import type { FastifyInstance } from 'fastify';
import type { ChangeFeed } from '../events/change-feed.ts';
import type { MemberInfo } from '../membership/member-info.ts';
import { blockingRead } from './blocking-query.ts';
import { NEEDS_CATALOG_SYNC } from './catalog-sync-gate.ts';
import type { CatalogReader, MemberReader } from './planes.ts';

export interface ConsulCatalogOptions {
  readonly mesh: CatalogReader;
  readonly membership: MemberReader;
  readonly feed: ChangeFeed;
  readonly datacenter: string;
}

interface Entry {
  readonly member: MemberInfo;
  readonly instance: InstanceRecord;
}

/** Catalog entries on members we know and that have not left (a failed node's services stay, critical). */
function entries(opts: ConsulCatalogOptions): Entry[] {
  const members = new Map(opts.membership.members().map((m) => [m.name, m]));
  const out: Entry[] = [];
  for (const record of opts.mesh.records()) {
    const member = members.get(record.node);
    if (!member || member.status === 'left') continue;
    for (const instance of record.instances) out.push({ member, instance });
  }
  return out.sort(
    (a, b) =>
      cmp(a.member.name, b.member.name) ||
      cmp(a.instance.service, b.instance.service) ||
      cmp(a.instance.id, b.instance.id),
  );
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function tagFilter(query: Record<string, unknown>): string[] {
  const tag = query.tag;
  return tag === undefined ? [] : Array.isArray(tag) ? tag.map(String) : [String(tag)];
}

/** Consul's node-level Serf check: critical once the node failed. */
function nodeStatus(m: MemberInfo): 'passing' | 'critical' {
  return m.status === 'dead' ? 'critical' : 'passing';
}

/**
 * The read subset of Consul's catalog and health API that Prometheus' consul_sd_configs and
 * consul-template use, with Consul's JSON shapes, blocking queries and headers. Our data is every
 * agent's own view, so it is "stale" in Consul's terms; there is no leader to contact.
 */
export function registerConsulCatalogRoutes(app: FastifyInstance, opts: ConsulCatalogOptions): void {
  const node = (m: MemberInfo) => ({
    ID: m.tags['vigil:peer'] ?? '',
    Node: m.name,
    Address: m.addr,
    Datacenter: opts.datacenter,
    TaggedAddresses: { lan: m.addr, wan: m.addr },
    Meta: Object.fromEntries(Object.entries(m.tags).filter(([k]) => !k.startsWith('vigil:'))),
  });

  // Every member that has not left, failed ones included (Consul keeps a failed node until reaped).
  app.get('/v1/catalog/nodes', NEEDS_CATALOG_SYNC, (req, reply) =>
    blockingRead(req, reply, opts.feed, () =>
      opts.membership
        .members()
        .filter((m) => m.status !== 'left')
        .map((m) => ({ ...node(m), CreateIndex: 1, ModifyIndex: opts.feed.index() })),
    ),
  );

  app.get('/v1/catalog/services', NEEDS_CATALOG_SYNC, (req, reply) =>
    blockingRead(req, reply, opts.feed, () => {
      const services: Record<string, Set<string>> = {};
      for (const { instance } of entries(opts)) {
        const tags = services[instance.service] ?? new Set<string>();
        services[instance.service] = tags;
        for (const t of instance.tags) tags.add(t);
      }
      return Object.fromEntries(
        Object.keys(services)
          .sort(cmp)
          .map((name) => [name, [...services[name]!].sort(cmp)]),
      );
    }),
  );

  app.get('/v1/catalog/service/:name', NEEDS_CATALOG_SYNC, (req, reply) => {
    const { name } = req.params as { name: string };
    const tags = tagFilter(req.query as Record<string, unknown>);
    return blockingRead(req, reply, opts.feed, () =>
      entries(opts)
        .filter(({ instance }) => instance.service === name && tags.every((t) => instance.tags.includes(t)))
        .map(({ member, instance }) => {
          const n = node(member);
          return {
            ID: n.ID,
            Node: n.Node,
            Address: n.Address,
            Datacenter: n.Datacenter,
            TaggedAddresses: n.TaggedAddresses,
            NodeMeta: n.Meta,
            ServiceKind: '',
            ServiceID: instance.id,
            ServiceName: instance.service,
            ServiceTags: instance.tags,
            ServiceAddress: instance.address,
            ServiceTaggedAddresses: {},
            ServiceWeights: { Passing: instance.weight, Warning: 1 },
            ServiceMeta: instance.meta,
            ServicePort: instance.port,
            ServiceEnableTagOverride: false,
            CreateIndex: 1,
            ModifyIndex: opts.feed.index(),
          };
        }),
    );
  });

  app.get('/v1/health/service/:name', NEEDS_CATALOG_SYNC, (req, reply) => {
    const { name } = req.params as { name: string };
    const query = req.query as Record<string, unknown>;
    const tags = tagFilter(query);
    // Consul treats a bare `?passing` (and passing=1/true) as on.
    const passingOnly = query.passing !== undefined && !['0', 'false'].includes(String(query.passing));
    return blockingRead(req, reply, opts.feed, () =>
      entries(opts)
        .filter(({ instance }) => instance.service === name && tags.every((t) => instance.tags.includes(t)))
        .map(({ member, instance }) => {
          const common = {
            Node: member.name,
            ServiceName: '',
            ServiceTags: [] as readonly string[],
            Notes: '',
            Output: '',
          };
          const serviceCheck = {
            ...common,
            ServiceID: instance.id,
            ServiceName: instance.service,
            ServiceTags: instance.tags,
          };
          const checks = [
            { ...common, CheckID: 'serfHealth', Name: 'Serf Health Status', Status: nodeStatus(member), ServiceID: '' },
            {
              ...serviceCheck,
              CheckID: `service:${instance.id}`,
              Name: `Service '${instance.service}' check`,
              Status: instance.health,
            },
          ];
          if (instance.maintenance) {
            checks.push({
              ...serviceCheck,
              CheckID: `_service_maintenance:${instance.id}`,
              Name: 'Service Maintenance Mode',
              Status: 'critical',
            });
          }
          return {
            Node: node(member),
            Service: {
              ID: instance.id,
              Service: instance.service,
              Tags: instance.tags,
              Address: instance.address,
              Meta: instance.meta,
              Port: instance.port,
              Weights: { Passing: instance.weight, Warning: 1 },
              TaggedAddresses: {},
            },
            Checks: checks,
          };
        })
        .filter((e) => !passingOnly || e.Checks.every((c) => c.Status === 'passing')),
    );
  });
}
