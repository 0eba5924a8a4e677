import type { FastifyInstance } from 'fastify';
import type { MemberInfo } from '../membership/member-info.ts';
import { requireToken } from './acl-token.ts';
import { ApiError } from './api-error.ts';
import type { LogReader, MemberReader } from './planes.ts';

export interface ConsulAgentOptions {
  readonly membership: MemberReader;
  readonly datacenter: string;
  readonly aclToken?: string | undefined;
  /** The agent's log, for /v1/agent/monitor; absent when the agent was started without one. */
  readonly logTap?: LogReader | undefined;
}

/** Serf's member status numbers, as Consul's /v1/agent/members reports them. */
const SERF_STATUS: Record<MemberInfo['status'], number> = { alive: 1, suspect: 1, left: 3, dead: 4 };

/** pino's level numbers by the names Consul's monitor takes. */
const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, err: 50, error: 50, fatal: 60 };
const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/**
 * The rest of Consul's agent and status API that tools call first: the member list in Consul's
 * shape, the leader (none: there is no server, so the empty string Consul gives without one), and
 * the log stream (`consul monitor`, `vigil monitor`).
 */
export function registerConsulAgentRoutes(app: FastifyInstance, opts: ConsulAgentOptions): void {
  app.get('/v1/agent/members', async () =>
    opts.membership.members().map((m) => ({
      Name: m.name,
      Addr: m.addr,
      Port: m.port,
      Tags: { dc: opts.datacenter, role: 'node', ...m.tags },
      Status: SERF_STATUS[m.status],
      ProtocolMin: 1,
      ProtocolMax: 5,
      ProtocolCur: 2,
      DelegateMin: 2,
      DelegateMax: 5,
      DelegateCur: 4,
    })),
  );
  // Consul's JSON string, quotes included (Fastify would send a bare empty body for '').
  app.get('/v1/status/leader', async (_req, reply) => reply.type('application/json').send('""'));
  app.get('/v1/status/peers', async () => []);

  // Logs may name hosts and keys' fingerprints: with an ACL token, reading them needs it, as
  // Consul's agent:read.
  app.register(async (guarded) => {
    guarded.addHook('onRequest', requireToken(opts.aclToken));
    guarded.get('/v1/agent/monitor', (req, reply) => {
      const tap = opts.logTap;
      if (tap === undefined) throw new ApiError(501, 'this agent does not expose its log');
      const query = req.query as Record<string, unknown>;
      const levelName = typeof query.loglevel === 'string' ? query.loglevel.toLowerCase() : 'info';
      const min = LEVELS[levelName];
      if (min === undefined) throw new ApiError(400, `loglevel: must be one of ${Object.keys(LEVELS).join(', ')}`);
      const json = query.logjson !== undefined && query.logjson !== 'false';
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' });
      res.flushHeaders();
      let dropped = 0;
      const unsubscribe = tap.subscribe((line) => {
        let entry: { level?: number; time?: number; msg?: string; [k: string]: unknown };
        try {
          entry = JSON.parse(line);
        } catch {
          return true;
        }
        if ((entry.level ?? 0) < min) return true;
        // A reader that stops reading loses lines rather than growing the agent's memory.
        if (res.writableLength > 1024 * 1024) {
          dropped++;
          return false;
        }
        if (dropped > 0) {
          res.write(`${new Date().toISOString()} [WARN]  monitor: ${dropped} log lines dropped (reader too slow)\n`);
          dropped = 0;
        }
        res.write(`${json ? line : textLine(entry)}\n`);
        return true;
      });
      req.raw.once('close', unsubscribe);
    });
  });
}

/** `2026-01-02T03:04:05.678Z [INFO]  message: key=value ...`, as Consul's monitor prints. */
function textLine(entry: { level?: number; time?: number; msg?: string; [k: string]: unknown }): string {
  const { level, time, msg, pid: _pid, hostname: _hostname, ...fields } = entry;
  const extra = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const when = new Date(typeof time === 'number' ? time : Date.now()).toISOString();
  return `${when} [${LEVEL_NAMES[level ?? 30] ?? 'INFO'}]  ${msg ?? ''}${extra ? `: ${extra}` : ''}`;
}
