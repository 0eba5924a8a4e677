import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { z } from 'zod';
import { formatHostPort } from '../base/host-port.ts';
import { ConfigError } from './config-error.ts';
import { type AgentConfig, agentConfigSchema, type ConfigField } from './schema.ts';

type Kind = 'string' | 'list' | 'tags' | 'boolean' | 'json';

/**
 * How each field is spelled in each source. Lists accumulate in flags and are comma-separated in env.
 * A field without a flag or env name (`json`: structured values) is read from the config file only.
 */
const FIELDS: Record<ConfigField, { flag?: string; env?: string; file: string; kind: Kind }> = {
  node: { flag: 'node', env: 'VIGIL_NODE', file: 'node', kind: 'string' },
  datacenter: { flag: 'datacenter', env: 'VIGIL_DATACENTER', file: 'datacenter', kind: 'string' },
  bind: { flag: 'bind', env: 'VIGIL_BIND', file: 'bind', kind: 'string' },
  advertise: { flag: 'advertise', env: 'VIGIL_ADVERTISE', file: 'advertise', kind: 'string' },
  http: { flag: 'http', env: 'VIGIL_HTTP', file: 'http', kind: 'string' },
  p2p: { flag: 'p2p', env: 'VIGIL_P2P', file: 'p2p', kind: 'string' },
  join: { flag: 'join', env: 'VIGIL_JOIN', file: 'join', kind: 'list' },
  dataDir: { flag: 'data-dir', env: 'VIGIL_DATA_DIR', file: 'data_dir', kind: 'string' },
  encrypt: { flag: 'encrypt', env: 'VIGIL_ENCRYPT', file: 'encrypt', kind: 'list' },
  profile: { flag: 'profile', env: 'VIGIL_PROFILE', file: 'profile', kind: 'string' },
  zone: { flag: 'zone', env: 'VIGIL_ZONE', file: 'zone', kind: 'string' },
  tags: { flag: 'tag', env: 'VIGIL_TAGS', file: 'tags', kind: 'tags' },
  logLevel: { flag: 'log-level', env: 'VIGIL_LOG_LEVEL', file: 'log_level', kind: 'string' },
  services: { file: 'services', kind: 'json' },
  servicesDir: { flag: 'services-dir', env: 'VIGIL_SERVICES_DIR', file: 'services_dir', kind: 'string' },
  enableExecChecks: {
    flag: 'enable-exec-checks',
    env: 'VIGIL_ENABLE_EXEC_CHECKS',
    file: 'enable_exec_checks',
    kind: 'boolean',
  },
  failbackHoldDown: {
    flag: 'failback-hold-down',
    env: 'VIGIL_FAILBACK_HOLD_DOWN',
    file: 'failback_hold_down',
    kind: 'string',
  },
  panicThreshold: { flag: 'panic-threshold', env: 'VIGIL_PANIC_THRESHOLD', file: 'panic_threshold', kind: 'string' },
  drainTimeout: { flag: 'drain-timeout', env: 'VIGIL_DRAIN_TIMEOUT', file: 'drain_timeout', kind: 'string' },
  outlierWindow: { flag: 'outlier-window', env: 'VIGIL_OUTLIER_WINDOW', file: 'outlier_window', kind: 'string' },
  outlierBaseEjection: {
    flag: 'outlier-base-ejection',
    env: 'VIGIL_OUTLIER_BASE_EJECTION',
    file: 'outlier_base_ejection',
    kind: 'string',
  },
  httpAllowedHosts: {
    flag: 'http-allowed-host',
    env: 'VIGIL_HTTP_ALLOWED_HOSTS',
    file: 'http_allowed_hosts',
    kind: 'list',
  },
  aclToken: { flag: 'acl-token', env: 'VIGIL_ACL_TOKEN', file: 'acl_token', kind: 'string' },
  dns: { flag: 'dns', env: 'VIGIL_DNS', file: 'dns', kind: 'string' },
  domain: { flag: 'domain', env: 'VIGIL_DOMAIN', file: 'domain', kind: 'string' },
  dnsTtl: { flag: 'dns-ttl', env: 'VIGIL_DNS_TTL', file: 'dns_ttl', kind: 'string' },
};

export const CONFIG_FLAGS = Object.values(FIELDS).flatMap(({ flag, kind }) =>
  flag === undefined
    ? []
    : [
        {
          flag,
          multiple: kind === 'list' || kind === 'tags',
          type: kind === 'boolean' ? 'boolean' : 'string',
        } as const,
      ],
);

/** `true`/`false` (and 1/0, yes/no) in environment variables; anything else is left for the schema to refuse. */
function envBoolean(raw: string): boolean | string {
  if (/^(true|1|yes)$/i.test(raw)) return true;
  if (/^(false|0|no)$/i.test(raw)) return false;
  return raw;
}

export interface ConfigSources {
  /** Values from parseArgs, keyed by flag name. */
  readonly flags: Readonly<Record<string, string | string[] | boolean | undefined>>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** `--config` (or VIGIL_CONFIG): a JSON file. */
  readonly configFile?: string | undefined;
}

interface Layer {
  /** Prefix for problems in this source, e.g. `--bind` or `agent.json: bind`. */
  readonly label: (field: ConfigField, rest: readonly PropertyKey[]) => string;
  readonly values: Partial<Record<ConfigField, unknown>>;
}

function parseTags(items: readonly string[], label: string): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new ConfigError([`${label}: "${item}" is not KEY=VALUE`]);
    tags[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return tags;
}

function flagLayer(flags: ConfigSources['flags']): Layer {
  const values: Layer['values'] = {};
  for (const [field, spec] of Object.entries(FIELDS) as [ConfigField, (typeof FIELDS)[ConfigField]][]) {
    if (spec.flag === undefined) continue;
    const raw = flags[spec.flag];
    if (spec.kind === 'boolean') {
      if (typeof raw === 'boolean') values[field] = raw;
      continue;
    }
    if (raw === undefined || typeof raw === 'boolean') continue;
    const list = Array.isArray(raw) ? raw : [raw];
    values[field] = spec.kind === 'tags' ? parseTags(list, `--${spec.flag}`) : spec.kind === 'list' ? list : raw;
  }
  return { label: (field) => `--${FIELDS[field].flag}`, values };
}

function envLayer(env: ConfigSources['env']): Layer {
  const values: Layer['values'] = {};
  for (const [field, spec] of Object.entries(FIELDS) as [ConfigField, (typeof FIELDS)[ConfigField]][]) {
    if (spec.env === undefined) continue;
    const raw = env[spec.env];
    if (raw === undefined || raw === '') continue;
    if (spec.kind === 'boolean') {
      values[field] = envBoolean(raw);
      continue;
    }
    const list = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    values[field] = spec.kind === 'tags' ? parseTags(list, spec.env) : spec.kind === 'list' ? list : raw;
  }
  return { label: (field) => FIELDS[field].env ?? field, values };
}

function fileLayer(path: string): Layer {
  const name = basename(path);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new ConfigError([`${name}: cannot read config file ${path}: ${why}`]);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError([`${name}: the config file must hold a JSON object`]);
  }
  const byFileKey = new Map(Object.entries(FIELDS).map(([field, spec]) => [spec.file, field as ConfigField]));
  const values: Layer['values'] = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(parsed)) {
    const field = byFileKey.get(key);
    if (field === undefined) problems.push(`${name}: unknown field "${key}"`);
    else values[field] = value;
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    label: (field, rest) => `${name}: ${[FIELDS[field].file, ...rest.map(String)].join('.')}`,
    values,
  };
}

function describe(issue: z.core.$ZodIssue, label: string): string {
  // Flags and env read as "--bind: <problem>", a file as "agent.json: bind <problem>".
  return label.includes(': ') ? `${label} ${issue.message}` : `${label}: ${issue.message}`;
}

/** Merges flags over env over the config file over defaults, then validates the result. */
export function loadConfig(sources: ConfigSources): AgentConfig {
  const configFile = sources.configFile ?? sources.env.VIGIL_CONFIG;
  const layers = [flagLayer(sources.flags), envLayer(sources.env)];
  if (configFile) layers.push(fileLayer(configFile));

  const merged: Partial<Record<ConfigField, unknown>> = {};
  const origin = new Map<ConfigField, Layer>();
  for (const layer of [...layers].reverse()) {
    for (const [field, value] of Object.entries(layer.values) as [ConfigField, unknown][]) {
      merged[field] = value;
      origin.set(field, layer);
    }
  }

  const result = agentConfigSchema.safeParse(merged);
  if (result.success) {
    const c = result.data;
    if (c.outlierBaseEjection <= c.outlierWindow) {
      // While ejected, observers must fall idle (one window without calls) before it returns.
      const label =
        origin.get('outlierBaseEjection')?.label('outlierBaseEjection', []) ?? 'default outlierBaseEjection';
      throw new ConfigError([`${label}: must be longer than the outlier window (${c.outlierWindow}ms)`]);
    }
    return c;
  }
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const [field, ...rest] = issue.path as [ConfigField, ...PropertyKey[]];
      const layer = origin.get(field);
      const label = layer ? layer.label(field, rest) : `default ${field}`;
      return describe(issue, label);
    }),
  );
}

/** The configuration as operators write it, with keys never printed. */
export function redactConfig(config: AgentConfig): Record<string, unknown> {
  const { encrypt, bind, advertise, http, p2p, join, aclToken, services, dns, ...rest } = config;
  return {
    ...rest,
    bind: formatHostPort(bind),
    advertise: advertise && formatHostPort(advertise),
    http: formatHostPort(http),
    dns: dns === null ? 'off' : formatHostPort(dns),
    p2p: formatHostPort(p2p),
    join: join.map(formatHostPort),
    encrypt: encrypt.map(() => '<redacted>'),
    aclToken: aclToken === undefined ? undefined : '<redacted>',
    services: services.map((s) => s.service.id),
  };
}
