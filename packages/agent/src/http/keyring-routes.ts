import { keyFingerprint } from '@vigil/protocol';
import type { FastifyInstance } from 'fastify';
import { parseGossipKey } from '../config/gossip-key.ts';
import {
  ENCRYPTION_OFF,
  type KeyOperation,
  KeyringDisabledError,
  type KeyringReport,
} from '../membership/key-manager.ts';
import { requireToken } from './acl-token.ts';
import { ApiError } from './api-error.ts';
import type { KeyringDriver } from './planes.ts';

export interface KeyringRoutesOptions {
  readonly membership: KeyringDriver;
  readonly datacenter: string;
  readonly aclToken?: string | undefined;
}

const fingerprints = (counts: Readonly<Record<string, number>>) =>
  Object.fromEntries(Object.entries(counts).map(([key, n]) => [keyFingerprint(key), n]));

/**
 * Consul's keyring entry: one per gossip pool (we have one, the LAN pool). Keys are shown as
 * themselves only to a request that proved it holds the agent's ACL token; otherwise as their
 * fingerprints, which still show which members hold which key.
 */
function consulShape(report: KeyringReport, datacenter: string, showKeys: boolean) {
  return {
    WAN: false,
    Datacenter: datacenter,
    Segment: '',
    Keys: showKeys ? report.keys : fingerprints(report.keys),
    PrimaryKeys: showKeys ? report.primaryKeys : fingerprints(report.primaryKeys),
    NumNodes: report.numNodes,
    NumResponses: report.numResponses,
    NumErrors: report.numErrors,
    Messages: report.messages,
  };
}

function keyFromBody(body: unknown): Uint8Array {
  const key = (body as { Key?: unknown } | undefined)?.Key;
  if (typeof key !== 'string' || key === '')
    throw new ApiError(400, 'Key: give the base64 gossip key as {"Key": "..."}');
  const raw = parseGossipKey(key);
  if (!raw) {
    throw new ApiError(
      400,
      `Key: must be base64 of 16, 24 or 32 bytes (see \`vigil keygen\`), got ${Buffer.from(key, 'base64').length} bytes`,
    );
  }
  return new Uint8Array(raw);
}

/**
 * Consul's /v1/operator/keyring: list (GET), install (POST), use (PUT) and remove (DELETE) a
 * gossip key on every member, through Serf's key queries. Keys are secrets, so every verb,
 * listing included, needs the ACL token when the agent has one; an agent without one lists only
 * key fingerprints (`sha256:…`), since any local process, or a page that got past the browser
 * guard, could read the list.
 */
export function registerKeyringRoutes(app: FastifyInstance, opts: KeyringRoutesOptions): void {
  app.register(async (keyring) => {
    keyring.addHook('onRequest', requireToken(opts.aclToken));
    // The token hook refused every request without the token, when the agent has one.
    const showKeys = opts.aclToken !== undefined;

    const run = async (op: KeyOperation, key?: Uint8Array) => {
      let report: KeyringReport;
      try {
        report = await opts.membership.keys.run(op, key);
      } catch (err) {
        if (err instanceof KeyringDisabledError) throw new ApiError(400, err.message);
        throw err;
      }
      if (report.numErrors > 0) {
        const detail = Object.entries(report.messages)
          .filter(([, m]) => m !== '')
          .map(([node, m]) => `${node}: ${m}`)
          .join('; ');
        throw new ApiError(500, `${op} failed on ${report.numErrors} of ${report.numNodes} members: ${detail}`);
      }
      if (report.numResponses < report.numNodes) {
        throw new ApiError(
          504,
          `${op}: ${report.numNodes - report.numResponses} of ${report.numNodes} members did not answer in time (${report.unanswered.join(', ')}); run it again`,
        );
      }
      return [consulShape(report, opts.datacenter, showKeys)];
    };

    keyring.get('/v1/operator/keyring', async (req) => {
      const localOnly = (req.query as Record<string, unknown>)['local-only'];
      if (localOnly === undefined || localOnly === 'false') return run('list');
      if (localOnly !== '' && localOnly !== 'true') throw new ApiError(400, 'local-only: must be true or false');
      const local = opts.membership.keys.localKeys();
      if (!local) throw new ApiError(400, ENCRYPTION_OFF);
      const count = Object.fromEntries(local.keys.map((k) => [k, 1]));
      return [
        consulShape(
          {
            numNodes: 1,
            unanswered: [],
            numResponses: 1,
            numErrors: 0,
            messages: {},
            keys: count,
            primaryKeys: { [local.primary]: 1 },
          },
          opts.datacenter,
          showKeys,
        ),
      ];
    });
    keyring.post('/v1/operator/keyring', async (req) => run('install', keyFromBody(req.body)));
    keyring.put('/v1/operator/keyring', async (req) => run('use', keyFromBody(req.body)));
    keyring.delete('/v1/operator/keyring', async (req) => run('remove', keyFromBody(req.body)));
  });
}
