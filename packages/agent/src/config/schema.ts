import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { nodeNameProblem, tagKeyProblem, tagValueProblem } from '@vigil/protocol';
import { z } from 'zod';
import { checkedBy } from '../base/checked-by.ts';
import { formatDuration, parseDuration } from '../base/duration.ts';
import { parseGossipKey } from '../base/gossip-key.ts';
import { type HostPort, parseHostPort } from '../base/host-port.ts';
import { MAX_TIMER_MS } from '../runtime/index.ts';
import { configServicesSchema } from '../services/config-services.ts';

export const PROFILES = ['lan', 'wan', 'local'] as const;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Default ports: gossip as Serf uses, then libp2p and HTTP right above it. */
export const DEFAULT_GOSSIP_PORT = 7946;
export const DEFAULT_P2P_PORT = 7947;
export const DEFAULT_HTTP_PORT = 7948;
/** Consul's DNS port. */
export const DEFAULT_DNS_PORT = 8600;

const oneOf = (values: readonly string[]) => `must be one of ${values.join(', ')}`;

const hostPort = (defaultPort?: number) =>
  z.string().transform((value, ctx): HostPort => {
    const parsed = parseHostPort(value, defaultPort);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: parsed });
      return z.NEVER;
    }
    return parsed;
  });

/** Serf's key format: base64 of a 16, 24 or 32 byte AES key. */
const gossipKey = z.string().transform((value, ctx): Buffer => {
  const bytes = parseGossipKey(value);
  if (!bytes) {
    ctx.addIssue({
      code: 'custom',
      message: 'is not a base64 AES key of 16, 24 or 32 bytes (make one with `vigil keygen`)',
    });
    return z.NEVER;
  }
  return bytes;
});

const nodeName = checkedBy(nodeNameProblem);
const tagKey = checkedBy(tagKeyProblem);

/** A Go duration (30s, 500ms) in ms, at least `min` ms. */
const duration = (fallback: string, min: number) =>
  z
    .string()
    .transform((value, ctx): number => {
      const ms = parseDuration(value);
      if (ms === undefined || ms < min) {
        ctx.addIssue({
          code: 'custom',
          message: `"${value}" is not a duration such as 30s or 500ms${min > 0 ? ` (at least ${min}ms)` : ''}`,
        });
        return z.NEVER;
      }
      return ms;
    })
    .prefault(fallback);

/** The configuration's fields. Every field has a default except the optional ones. */
const agentConfigFields = z.strictObject({
  node: nodeName.default(() => hostname().split('.')[0] || 'vigil'),
  datacenter: z.string().min(1, 'must not be empty').default('dc1'),
  bind: hostPort(DEFAULT_GOSSIP_PORT).prefault(`0.0.0.0:${DEFAULT_GOSSIP_PORT}`),
  advertise: hostPort(DEFAULT_GOSSIP_PORT).optional(),
  http: hostPort(DEFAULT_HTTP_PORT).prefault(`127.0.0.1:${DEFAULT_HTTP_PORT}`),
  /** Default: the gossip bind host (filled in below), so loopback gossip means loopback libp2p. */
  p2p: hostPort(DEFAULT_P2P_PORT).optional(),
  join: z.array(hostPort(DEFAULT_GOSSIP_PORT)).default([]),
  dataDir: z.string().min(1, 'must not be empty').default('vigil-data'),
  encrypt: z.array(gossipKey).default([]),
  profile: z.enum(PROFILES, { error: () => oneOf(PROFILES) }).default('lan'),
  // The zone travels as a tag value (vigil:zone).
  zone: z.string().min(1, 'must not be empty').max(64).pipe(checkedBy(tagValueProblem)).default('default'),
  tags: z.record(tagKey, checkedBy(tagValueProblem)).default({}),
  logLevel: z.enum(LOG_LEVELS, { error: () => oneOf(LOG_LEVELS) }).default('info'),
  /** Service definitions (the register API's shape), config file only. */
  services: configServicesSchema.default([]),
  /** A folder of JSON service definitions, read at start. */
  servicesDir: z.string().min(1, 'must not be empty').optional(),
  /** Allow exec checks registered over the HTTP API (a remote-code-execution risk, so off by default). */
  enableExecChecks: z.boolean({ error: 'must be true or false' }).default(false),
  /** When set, HTTP write endpoints require this token. */
  /** Routing: wait this long before traffic fails back to a recovered tier (Go duration, e.g. 30s). */
  failbackHoldDown: z
    .string()
    .transform((value, ctx): number => {
      const ms = parseDuration(value);
      if (ms === undefined || ms < 0) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration such as 30s or 500ms` });
        return z.NEVER;
      }
      // It becomes a timer, and Node fires a longer one after 1 ms (a recompute loop).
      if (ms > MAX_TIMER_MS) {
        ctx.addIssue({
          code: 'custom',
          message: `"${value}" is longer than ${formatDuration(MAX_TIMER_MS)} (about 24.8 days)`,
        });
        return z.NEVER;
      }
      return ms;
    })
    .prefault('30s'),
  /** Routing: below this healthy fraction a tier spreads over all its instances (Envoy's panic mode). */
  panicThreshold: z.coerce
    .number({ error: 'must be a number between 0 and 1' })
    .min(0, 'must be between 0 and 1')
    .max(1, 'must be between 0 and 1')
    .default(0.5),
  /** Graceful leave: after publishing this node's instances drained, wait this long for requests in flight. */
  drainTimeout: duration('2s', 0),
  /** Outlier detection: an observer's failure window, and the first ejection's length (> window). */
  outlierWindow: duration('10s', 100),
  outlierBaseEjection: duration('30s', 200),
  /** Host names (beside IP literals and localhost) the HTTP API answers to; guards against DNS rebinding. */
  httpAllowedHosts: z
    .array(
      z
        .string()
        .max(253, 'host names are at most 253 characters')
        .regex(
          /^(?=.)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/,
          'must be a DNS host name such as agent.example.internal',
        ),
    )
    .default([]),
  aclToken: z.string().min(1, 'must not be empty').max(512, 'must be at most 512 characters').optional(),
  /** The DNS interface (UDP and TCP), or null when turned off with `off`. */
  dns: z
    .string()
    .transform((value, ctx): HostPort | null => {
      if (value === 'off') return null;
      const parsed = parseHostPort(value, DEFAULT_DNS_PORT);
      if (typeof parsed === 'string') {
        ctx.addIssue({ code: 'custom', message: `${parsed} (or "off" to turn DNS off)` });
        return z.NEVER;
      }
      return parsed;
    })
    .prefault(`127.0.0.1:${DEFAULT_DNS_PORT}`),
  /** The DNS zone served, stored lowercase without the trailing dot (`vigil`). */
  domain: z
    .string()
    .regex(/^([A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}\.?$/, 'must be a domain name such as vigil. or vigil.example.')
    .max(200, 'must be at most 200 characters')
    .transform((value) => value.toLowerCase().replace(/\.$/, ''))
    .prefault('vigil.'),
  /** TTL of DNS answers, seconds (Consul's default 0: no caching). */
  dnsTtl: z
    .string()
    .transform((value, ctx): number => {
      const ms = parseDuration(value);
      if (ms === undefined || ms < 0 || ms > 86_400_000) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration between 0s and 24h` });
        return z.NEVER;
      }
      return Math.floor(ms / 1000);
    })
    .prefault('0s'),
});

/**
 * Validated agent configuration. libp2p listens where gossip does unless told otherwise: an agent
 * kept on loopback (or one interface) must not open its catalog port on every interface.
 */
export const agentConfigSchema = agentConfigFields.transform((c) => ({
  ...c,
  p2p: c.p2p ?? { host: p2pHostFor(c.bind.host), port: DEFAULT_P2P_PORT },
}));

/** libp2p listens on an IP address: a bind host given as a name maps to one (or to all, as before). */
function p2pHostFor(bindHost: string): string {
  if (isIP(bindHost) !== 0) return bindHost;
  return bindHost.toLowerCase() === 'localhost' ? '127.0.0.1' : '0.0.0.0';
}

export type AgentConfig = z.output<typeof agentConfigSchema>;
export type ConfigField = keyof AgentConfig;
