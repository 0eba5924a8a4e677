import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { drainRequestBody } from './drain-request.ts';

/**
 * The ACL token of write endpoints. When the agent has one, a write request must carry it in
 * `X-Vigil-Token` (or Consul's `X-Consul-Token`, or `Authorization: Bearer`), or as `?token=`;
 * otherwise it gets 403 before its body is parsed.
 */

const digest = (token: string) => createHash('sha256').update(token).digest();

/** The token a request carries, from the first place that has one. */
export function requestToken(req: FastifyRequest): string | undefined {
  const header = req.headers['x-vigil-token'] ?? req.headers['x-consul-token'];
  if (typeof header === 'string' && header !== '') return header;
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice('Bearer '.length).trim();
  const query = (req.query as Record<string, unknown> | undefined)?.token;
  return typeof query === 'string' && query !== '' ? query : undefined;
}

/** An onRequest hook enforcing `token`, or a no-op when the agent has none. */
export function requireToken(token: string | undefined) {
  const expected = token === undefined ? undefined : digest(token);
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (expected === undefined) return;
    const given = requestToken(req);
    // Compare digests so the comparison takes the same time whatever the length of the guess.
    if (given !== undefined && timingSafeEqual(digest(given), expected)) return;
    const why = given === undefined ? 'this agent requires an ACL token' : 'the ACL token is not valid';
    // The body is read and dropped (bounded), so a client still sending it reads this answer.
    drainRequestBody(req.raw);
    await reply.code(403).send({ error: `permission denied: ${why} (send it in X-Vigil-Token or ?token=)` });
  };
}
