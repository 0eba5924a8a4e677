// The election API: groups, graceful switchover, the replicated KV store and lock requests.
//
//   GET    /v1/elections                    every group this agent votes in (blocking queries)
//   GET    /v1/elections/:group             one group: leader (node, instance), token, term,
//                                           voters and roles, lease left, last change, hook runs
//   PUT    /v1/elections/:group/step-down   graceful switchover (the leader's agent only); ?to=NODE
//   GET    /v1/elections/:group/kv/:key     linearizable read (lease or read index); ?raw
//   PUT    /v1/elections/:group/kv/:key     write the body; ?cas=INDEX (0: only if absent)
//   DELETE /v1/elections/:group/kv/:key     ?cas=INDEX
//   PUT    /v1/elections/:group/lock        stand for a lock (?session=ID); 409 if another holds it here
//   GET    /v1/elections/:group/lock        poll: whether the session holds it, for how long
//   DELETE /v1/elections/:group/lock        give up the request (?session=ID)
//
// Writes are served by the leader's agent only. Any other voter answers 503 naming the leader (in
// the body and in X-Vigil-Leader), so a client retries there (through its own agent there, since
// agents' HTTP APIs listen on loopback); there is no forwarding between agents. Reads are served
// by any voter: a follower's read index goes to the leader through the group.

import type { FastifyInstance, FastifyReply } from 'fastify';
import { ServiceActor } from '../election/actors.ts';
import { type Elections, MAX_GROUPS } from '../election/elections.ts';
import { GroupError } from '../election/group.ts';
import { GROUP_NAME } from '../election/group-storage.ts';
import { encodeKvCommand } from '../election/kv/kv-codec.ts';
import type { KvCommand, KvResult } from '../election/kv/types.ts';
import type { ChangeFeed } from '../events/change-feed.ts';
import type { Mesh } from '../mesh/mesh.ts';
import { requireToken } from './acl-token.ts';
import { ApiError } from './api-error.ts';
import { blockingRead } from './blocking-query.ts';

export interface ElectionRoutesOptions {
  readonly elections: Elections;
  readonly mesh: Mesh;
  readonly feed: ChangeFeed;
  readonly aclToken?: string | undefined;
}

const SESSION = /^[A-Za-z0-9_-]{8,64}$/;

function groupParam(params: unknown): string {
  const { group } = params as { group: string };
  if (!GROUP_NAME.test(group)) throw new ApiError(400, `group: "${group.slice(0, 140)}" is not a valid group name`);
  return group;
}

function indexParam(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d{1,15}$/.test(value)) {
    throw new ApiError(400, `${name}: "${String(value).slice(0, 40)}" is not a non-negative integer`);
  }
  return Number(value);
}

function sessionParam(query: unknown): string {
  const session = (query as { session?: unknown }).session;
  if (typeof session !== 'string' || !SESSION.test(session)) {
    throw new ApiError(400, 'session: give ?session= with 8-64 letters, digits, "_" or "-"');
  }
  return session;
}

/** 503 with the leader named, so a client knows where to go. */
async function groupError(reply: FastifyReply, err: unknown): Promise<never> {
  if (err instanceof GroupError) {
    if (err.leader) reply.header('X-Vigil-Leader', err.leader);
    await reply.code(err.statusCode).send({ error: err.message, ...(err.leader ? { leader: err.leader } : {}) });
    return undefined as never;
  }
  throw err;
}

export function registerElectionRoutes(app: FastifyInstance, opts: ElectionRoutesOptions): void {
  app.register(async (scope) => {
    // KV values are bytes, whatever the content type says.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    const guard = requireToken(opts.aclToken);
    scope.addHook('onRequest', async (req, reply) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') await guard(req, reply);
    });
    routes(scope, opts);
  });
}

function routes(app: FastifyInstance, opts: ElectionRoutesOptions): void {
  const { elections, mesh, feed } = opts;

  const view = (name: string) => {
    const spec = elections.specs().get(name);
    const group = elections.group(name);
    const table = mesh.table(name);
    const status = group?.status();
    if (spec === undefined && status === undefined) return undefined;
    const actor = elections.actor(name);
    return {
      group: name,
      kind: spec?.kind ?? 'service',
      voter: status !== undefined,
      leader: status?.leader ?? table?.leader?.node,
      instance: table?.leader?.id,
      token: Math.max(status?.token ?? 0, table?.leader?.token ?? 0),
      term: status?.term ?? table?.leader?.term ?? 0,
      role: status?.role,
      acting: status?.acting,
      leaseRemainingMs: status?.leaseRemainingMs ?? 0,
      commit: status?.commit ?? 0,
      lastChange: status ? new Date(status.lastChange).toISOString() : undefined,
      leaderChanges: status?.leaderChanges ?? 0,
      candidates: spec?.candidates ?? [],
      voters: (status?.voters ?? []).map((node) => ({
        node,
        role: node === status?.leader ? 'leader' : 'follower',
        candidate: spec?.candidates.includes(node) ?? false,
      })),
      ...(actor instanceof ServiceActor ? { hooks: actor.runs } : {}),
    };
  };

  app.get('/v1/elections', (req, reply) =>
    blockingRead(req, reply, feed, () =>
      [...new Set([...elections.specs().keys(), ...elections.statuses().map((s) => s.group)])]
        .sort()
        .map((g) => view(g)),
    ),
  );

  app.get('/v1/elections/:group', async (req, reply) => {
    const name = groupParam(req.params);
    const out = await blockingRead(req, reply, feed, () => view(name));
    if (out === undefined)
      throw new ApiError(404, `no election group "${name}" (no service with Policy leader, no lock request)`);
    return out;
  });

  app.put('/v1/elections/:group/step-down', async (req, reply) => {
    const name = groupParam(req.params);
    const group = elections.group(name);
    if (group === undefined) throw new ApiError(404, `this agent is not a voter of "${name}"`);
    const to = (req.query as { to?: unknown }).to;
    if (to !== undefined && (typeof to !== 'string' || !group.status().voters.includes(to))) {
      throw new ApiError(400, `to: "${String(to).slice(0, 140)}" is not a voter of ${name}`);
    }
    try {
      await group.stepDown(to);
    } catch (err) {
      return groupError(reply, err);
    }
    return { group: name, steppedDown: true };
  });

  const voterGroup = (name: string) => {
    const group = elections.group(name);
    const machine = elections.machine(name);
    if (group === undefined || machine === undefined) {
      const leader = mesh.table(name)?.leader?.node;
      throw new GroupError(503, `this agent is not a voter of "${name}"; use the KV through a voter's agent`, leader);
    }
    return { group, machine };
  };

  app.get('/v1/elections/:group/kv/:key', async (req, reply) => {
    const name = groupParam(req.params);
    const { key } = req.params as { key: string };
    try {
      const { group, machine } = voterGroup(name);
      await group.linearize();
      const entry = machine.store.get(key);
      if (entry === undefined) throw new ApiError(404, `no key "${key.slice(0, 140)}" in ${name}`);
      if ((req.query as { raw?: unknown }).raw !== undefined) {
        reply.header('content-type', 'application/octet-stream');
        reply.header('X-Vigil-Index', String(entry.modifyIndex));
        return Buffer.from(entry.value);
      }
      return {
        Key: entry.key,
        Value: Buffer.from(entry.value).toString('base64'),
        CreateIndex: entry.createIndex,
        ModifyIndex: entry.modifyIndex,
      };
    } catch (err) {
      return groupError(reply, err);
    }
  });

  const write = async (reply: FastifyReply, name: string, cmd: KvCommand) => {
    try {
      const { group, machine } = voterGroup(name);
      const problem = machine.store.validate(cmd);
      if (problem !== undefined) throw new ApiError(problem.includes('limit') ? 413 : 400, problem);
      const result = (await group.propose(encodeKvCommand(cmd))) as KvResult | undefined;
      if (result === undefined) throw new GroupError(503, 'the write was not applied; retry');
      if (result.ok) return { ok: true, index: result.index };
      if (result.error === 'cas-failed') {
        await reply
          .code(409)
          .send({ error: `cas failed: the key's index is ${result.current}`, current: result.current });
        return undefined;
      }
      throw new ApiError(result.error === 'limit' ? 413 : 400, result.message);
    } catch (err) {
      return groupError(reply, err);
    }
  };

  app.put('/v1/elections/:group/kv/:key', async (req, reply) => {
    const name = groupParam(req.params);
    const { key } = req.params as { key: string };
    const cas = indexParam((req.query as { cas?: unknown }).cas, 'cas');
    const value = new Uint8Array((req.body as Buffer | undefined) ?? Buffer.alloc(0));
    return write(reply, name, cas === undefined ? { op: 'put', key, value } : { op: 'cas', key, value, index: cas });
  });

  app.delete('/v1/elections/:group/kv/:key', async (req, reply) => {
    const name = groupParam(req.params);
    const { key } = req.params as { key: string };
    const cas = indexParam((req.query as { cas?: unknown }).cas, 'cas');
    return write(reply, name, cas === undefined ? { op: 'delete', key } : { op: 'cas-delete', key, index: cas });
  });

  app.put('/v1/elections/:group/lock', async (req) => {
    const name = groupParam(req.params);
    const session = sessionParam(req.query);
    const outcome = elections.requestLock(name, session);
    if (outcome === 'taken') throw new ApiError(409, `another session on this agent already stands for lock "${name}"`);
    if (outcome === 'full') throw new ApiError(429, `this agent stands for the most locks it may (${MAX_GROUPS})`);
    return { group: name, session };
  });

  app.get('/v1/elections/:group/lock', async (req) => {
    const name = groupParam(req.params);
    const session = sessionParam(req.query);
    if (!elections.renewLock(name, session)) throw new ApiError(404, `session is not standing for lock "${name}" here`);
    return { group: name, ...elections.lockGrant(name) };
  });

  app.delete('/v1/elections/:group/lock', async (req) => {
    const name = groupParam(req.params);
    const session = sessionParam(req.query);
    if (!elections.releaseLock(name, session))
      throw new ApiError(404, `session is not standing for lock "${name}" here`);
    return { group: name, released: true };
  });
}
