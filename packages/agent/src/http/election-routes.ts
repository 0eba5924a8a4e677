// The election API: groups, graceful switchover, the replicated KV store and lock requests.
//
//   GET    /v1/elections                    every group this agent votes in (blocking queries)
//   GET    /v1/elections/:group             one group: leader (node, instance), token, term,
//                                           voters and roles, lease left, last change, hook runs
//   PUT    /v1/elections/:group/step-down   graceful switchover (any agent); ?to=NODE
//   GET    /v1/elections/:group/kv/:key     linearizable read (lease or read index); ?raw, ?stale
//   PUT    /v1/elections/:group/kv/:key     write the body; ?cas=INDEX (0: only if absent)
//   DELETE /v1/elections/:group/kv/:key     ?cas=INDEX
//   PUT    /v1/elections/:group/lock        stand for a lock (?session=ID); 409 if another holds it here
//   GET    /v1/elections/:group/lock        poll: whether the session holds it, for how long
//   DELETE /v1/elections/:group/lock        give up the request (?session=ID)
//
// Any agent takes every request, as etcd and Consul do. Writes and step-downs are carried out by
// the leader's agent: any other agent forwards them there over the election plane (forward-
// transport.ts) and returns the leader's answer unchanged. A voter reads from its own replica (a
// follower's read index goes to the leader through the group); an agent that is not a voter
// forwards the read. `?stale` reads the serving replica's applied state without a read index.
// Each waits up to `?timeout=` (default 10s). A 503 says what failed and names the leader when one
// is known (body and X-Vigil-Leader); a write whose forward failed after it left is never retried.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseDuration } from '../base/duration.ts';
import { ServiceActor } from '../election/actors.ts';
import { MAX_GROUPS } from '../election/elections.ts';
import { MAX_FORWARD_TIMEOUT_MS, type OpResponse } from '../election/forward-codec.ts';
import { GROUP_NAME } from '../election/group-storage.ts';
import { KvStore } from '../election/kv/kv-store.ts';
import type { KvCommand } from '../election/kv/types.ts';
import type { ChangeFeed } from '../events/change-feed.ts';
import { requireToken } from './acl-token.ts';
import { ApiError } from './api-error.ts';
import { blockingRead } from './blocking-query.ts';
import type { ElectionDriver, RouteReader } from './planes.ts';

export interface ElectionRoutesOptions {
  readonly elections: ElectionDriver;
  /** The routing table shows the leader a non-voter follows. */
  readonly mesh: Pick<RouteReader, 'table'>;
  readonly feed: ChangeFeed;
  readonly aclToken?: string | undefined;
}

const SESSION = /^[A-Za-z0-9_-]{8,64}$/;
/** How long a KV request or step-down waits for its outcome when it gives no `?timeout=`. */
const DEFAULT_OP_TIMEOUT_MS = 10_000;

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

function keyParam(params: unknown): string {
  const { key } = params as { key: string };
  if (key.length === 0) throw new ApiError(400, 'key: give a key after /kv/');
  return key;
}

/** `?timeout=` (a Go duration): how long the request may wait for its outcome, forward included. */
function timeoutParam(query: unknown): number {
  const raw = (query as { timeout?: unknown }).timeout;
  if (raw === undefined) return DEFAULT_OP_TIMEOUT_MS;
  const ms = typeof raw === 'string' ? parseDuration(raw) : undefined;
  if (ms === undefined || ms < 1 || ms > MAX_FORWARD_TIMEOUT_MS) {
    throw new ApiError(400, `timeout: "${String(raw).slice(0, 40)}" is not a duration between 1ms and 60s`);
  }
  return ms;
}

/** The outcome as the serving agent (here or the leader's) gave it; a 503 names the leader. */
async function answer(reply: FastifyReply, res: OpResponse): Promise<unknown> {
  if (res.leader) reply.header('X-Vigil-Leader', res.leader);
  return reply.code(res.status).send(res.body);
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
    const to = (req.query as { to?: unknown }).to;
    if (to !== undefined && (typeof to !== 'string' || to.length === 0 || to.length > 256)) {
      throw new ApiError(400, `to: "${String(to).slice(0, 140)}" is not a node name`);
    }
    return answer(reply, await elections.perform(name, { op: 'step-down', to }, timeoutParam(req.query)));
  });

  app.get('/v1/elections/:group/kv/:key', async (req, reply) => {
    const name = groupParam(req.params);
    const key = keyParam(req.params);
    const query = req.query as { raw?: unknown; stale?: unknown };
    const res = await elections.perform(
      name,
      { op: 'read', key, stale: query.stale !== undefined },
      timeoutParam(req.query),
    );
    if (query.raw !== undefined && res.status === 200 && typeof res.body.Value === 'string') {
      reply.header('content-type', 'application/octet-stream');
      if (res.index !== undefined) reply.header('X-Vigil-Index', String(res.index));
      return Buffer.from(res.body.Value, 'base64');
    }
    return answer(reply, res);
  });

  const write = async (req: FastifyRequest, reply: FastifyReply, cmd: KvCommand) => {
    // Bounds first, here: a value over the limit is refused before it is forwarded anywhere.
    const problem = new KvStore().validate(cmd);
    if (problem !== undefined) throw new ApiError(problem.includes('limit') ? 413 : 400, problem);
    const name = groupParam(req.params);
    return answer(reply, await elections.perform(name, { op: 'write', cmd }, timeoutParam(req.query)));
  };

  app.put('/v1/elections/:group/kv/:key', async (req, reply) => {
    const key = keyParam(req.params);
    const cas = indexParam((req.query as { cas?: unknown }).cas, 'cas');
    const value = new Uint8Array((req.body as Buffer | undefined) ?? Buffer.alloc(0));
    return write(req, reply, cas === undefined ? { op: 'put', key, value } : { op: 'cas', key, value, index: cas });
  });

  app.delete('/v1/elections/:group/kv/:key', async (req, reply) => {
    const key = keyParam(req.params);
    const cas = indexParam((req.query as { cas?: unknown }).cas, 'cas');
    return write(req, reply, cas === undefined ? { op: 'delete', key } : { op: 'cas-delete', key, index: cas });
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
