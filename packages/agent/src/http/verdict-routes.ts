import type { FastifyInstance } from 'fastify';
import { memberInfo } from '../membership/member-info.ts';
import { ApiError } from './api-error.ts';
import type { MemberReader, VerdictReader } from './planes.ts';

/**
 * GET /v1/members/:name: the member and its recent suspicions as this agent saw them (who accused
 * it, when, over which paths, who confirmed, the accuser's health score, how each ended), and
 * what our TCP found at its gossip port (`tcpPort`: `rejects` behind a firewall that rejects TCP,
 * whose refusals then count for nothing).
 */
export function registerVerdictRoutes(app: FastifyInstance, membership: MemberReader & VerdictReader): void {
  app.get<{ Params: { name: string } }>('/v1/members/:name', async (req) => {
    const { name } = req.params;
    if (name.length > 128) throw new ApiError(400, 'name: must be at most 128 characters');
    const view = membership.member(name);
    const history = membership.verdicts.history(name);
    if (!view && history.length === 0) throw new ApiError(404, `no member named "${name}"`);
    // The trail (probe-trail.ts) says what this agent did about the member: how a crash was found.
    const trail = membership.trail.steps(name);
    const tcpPort = membership.tcpPort(name);
    return {
      member: view ? memberInfo(view) : { name, status: 'unknown' },
      history,
      trail,
      ...(tcpPort === undefined ? {} : { tcpPort }),
    };
  });
}
