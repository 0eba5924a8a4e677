import type { FastifyInstance } from 'fastify';
import { parseHostPort } from '../config/host-port.ts';
import { DEFAULT_GOSSIP_PORT } from '../config/schema.ts';
import type { ChangeFeed } from '../events/change-feed.ts';
import { requireToken } from './acl-token.ts';
import { ApiError } from './api-error.ts';
import { blockingRead } from './blocking-query.ts';
import type { MemberReader, MemberWriter } from './planes.ts';

const STATUSES = ['alive', 'suspect', 'dead', 'left'];

export interface MemberRoutesOptions {
  readonly membership: MemberReader & MemberWriter;
  readonly feed: ChangeFeed;
  readonly aclToken?: string | undefined;
  /** `vigil leave`: leave gracefully, then shut the agent down. */
  readonly leaveAndShutdown: () => Promise<void>;
}

/** Membership: the member list, and Consul's join, leave and force-leave verbs. */
export function registerMemberRoutes(app: FastifyInstance, opts: MemberRoutesOptions): void {
  const { membership } = opts;

  app.get('/v1/members', async (req, reply) => {
    const status = (req.query as Record<string, unknown>).status;
    if (status !== undefined && (typeof status !== 'string' || !STATUSES.includes(status))) {
      throw new ApiError(400, `status: must be one of ${STATUSES.join(', ')}`);
    }
    return blockingRead(req, reply, opts.feed, () => {
      const members = membership.members();
      return status === undefined ? members : members.filter((m) => m.status === status);
    });
  });

  app.register(async (writes) => {
    writes.addHook('onRequest', requireToken(opts.aclToken));

    writes.put('/v1/agent/join/:address', async (req) => {
      const { address } = req.params as { address: string };
      const parsed = parseHostPort(address, DEFAULT_GOSSIP_PORT);
      if (typeof parsed === 'string') throw new ApiError(400, `address: ${parsed}`);
      const result = await membership.join([parsed]);
      if (result.joined === 0) throw new ApiError(502, `could not join ${address}: ${result.errors.join('; ')}`);
      return { joined: result.joined };
    });

    writes.put('/v1/agent/leave', async () => {
      await opts.leaveAndShutdown();
      return { left: membership.localName() };
    });

    writes.put('/v1/agent/force-leave/:node', async (req) => {
      const { node } = req.params as { node: string };
      const member = membership.member(node);
      if (!member) throw new ApiError(404, `no member named "${node}"`);
      if (!membership.forceLeave(node)) {
        throw new ApiError(409, `member "${node}" is ${member.status}; only a failed (dead) member can be forced out`);
      }
      return { node, status: 'left' };
    });
  });
}
