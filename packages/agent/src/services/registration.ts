import {
  addressProblem,
  META_KEYS_MAX,
  metaKeyProblem,
  metaValueProblem,
  SERVICE_TAGS_MAX,
  serviceIdProblem,
  serviceNameProblem,
  serviceTagProblem,
} from '@vigil/protocol';
import { z } from 'zod';
import { checkedBy } from '../base/checked-by.ts';
import { formatDuration, parseDuration } from '../base/duration.ts';
import { parseHostPort } from '../base/host-port.ts';
import { StatusError } from '../base/status-error.ts';
import {
  DEFAULT_EXEC_TIMEOUT_MS,
  DEFAULT_HOOK_TIMEOUT_MS,
  DEFAULT_NETWORK_TIMEOUT_MS,
  DEFAULT_OUTPUT_MAX_SIZE,
  MAX_OUTPUT_MAX_SIZE,
  MIN_CHECK_INTERVAL_MS,
  MIN_DEREGISTER_CRITICAL_AFTER_MS,
} from '../health/defaults.ts';
import { CHECK_STATUSES } from '../health/status.ts';
import { MAX_TIMER_MS } from '../runtime/index.ts';
import type { CheckDefinition, CheckSpec, HookSpec, Registration, ServiceDefinition } from './definition.ts';

/**
 * The registration body, validated at the boundary. It takes Consul's JSON (PascalCase as the API
 * documents it, or camelCase / snake_case as Consul also accepts) plus Vigil's `Priority`, `Zone`
 * and `Weight`, and turns it into a ServiceDefinition and its CheckDefinitions. Problems name the
 * field as the user spelled it: `Checks[0].Interval: must be a positive duration`.
 */

/** A bad definition: each problem names the field. The HTTP API answers it with 400. */
export class DefinitionError extends StatusError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(400, problems.join('; '));
    this.problems = problems;
  }
}

// --- key spelling -----------------------------------------------------------------------------

const SERVICE_FIELDS = [
  'ID',
  'Name',
  'Address',
  'Port',
  'Tags',
  'Meta',
  'Weights',
  'Weight',
  'Priority',
  'Zone',
  'Policy',
  'Voters',
  'OnPromote',
  'OnDemote',
  'Check',
  'Checks',
  // Consul fields accepted for compatibility; see serviceSchema.
  'EnableTagOverride',
  'TaggedAddresses',
  'Kind',
  'Proxy',
  'Connect',
  'Namespace',
  'Partition',
] as const;

const CHECK_FIELDS = [
  'CheckID',
  'Name',
  'Notes',
  'ServiceID',
  'Status',
  'Type',
  'HTTP',
  'Method',
  'Header',
  'Body',
  'TLSSkipVerify',
  'TLSServerName',
  'DisableRedirects',
  'TCP',
  'Args',
  'TTL',
  'GRPC',
  'GRPCUseTLS',
  'Interval',
  'Timeout',
  'SuccessBeforePassing',
  'FailuresBeforeWarning',
  'FailuresBeforeCritical',
  'DeregisterCriticalServiceAfter',
  'OutputMaxSize',
] as const;

const WEIGHTS_FIELDS = ['Passing', 'Warning'] as const;

const HOOK_FIELDS = ['Args', 'Timeout'] as const;

const fold = (key: string) => key.toLowerCase().replaceAll('_', '').replaceAll('-', '');

function table(fields: readonly string[], aliases: Record<string, string> = {}): Map<string, string> {
  const map = new Map(fields.map((f) => [fold(f), f]));
  for (const [alias, field] of Object.entries(aliases)) map.set(fold(alias), field);
  return map;
}

const SERVICE_KEYS = table(SERVICE_FIELDS);
// Consul accepts `ID` for `CheckID`, and `ScriptArgs` is the older name of `Args`.
const CHECK_KEYS = table(CHECK_FIELDS, { ID: 'CheckID', ScriptArgs: 'Args' });
const WEIGHTS_KEYS = table(WEIGHTS_FIELDS);
const HOOK_KEYS = table(HOOK_FIELDS);

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Renames the keys of one object level to their canonical spelling; unknown keys stay as written. */
function canonicalKeys(value: unknown, keys: Map<string, string>): unknown {
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) out[keys.get(fold(key)) ?? key] = v;
  return out;
}

/** The path of an issue as the user wrote it: canonical keys are mapped back to the raw input's keys. */
function displayPath(raw: unknown, path: readonly PropertyKey[]): string {
  let out = '';
  let node = raw;
  for (const segment of path) {
    if (typeof segment === 'number') {
      out += `[${segment}]`;
      node = Array.isArray(node) ? node[segment] : undefined;
      continue;
    }
    const name = String(segment);
    let key = name;
    if (isPlainObject(node)) {
      const found = Object.keys(node).find(
        (k) =>
          k === name ||
          SERVICE_KEYS.get(fold(k)) === name ||
          CHECK_KEYS.get(fold(k)) === name ||
          WEIGHTS_KEYS.get(fold(k)) === name ||
          HOOK_KEYS.get(fold(k)) === name,
      );
      if (found !== undefined) key = found;
      node = found === undefined ? undefined : node[found];
    } else {
      node = undefined;
    }
    out += out === '' ? key : `.${key}`;
  }
  return out;
}

// --- field schemas ----------------------------------------------------------------------------

const between = (min: number, max: number) => `must be between ${min} and ${max}`;

const integer = (min: number, max: number) =>
  z.number().int('must be a whole number').min(min, between(min, max)).max(max, between(min, max));

const count = integer(0, 1000);

/** A Go duration string ("10s", "1m30s", "250ms") in milliseconds. */
const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (expected e.g. "10s", "1m30s", "500ms")` });
    return z.NEVER;
  }
  return ms;
});

const positiveDuration = duration.refine((ms) => ms > 0, { message: 'must be a positive duration', abort: true });

/**
 * A duration that runs a timer (Interval, Timeout, TTL). Node's timers hold at most 2^31-1 ms; a
 * longer one fires after 1 ms instead, so `Interval: "1000000h"` would run a check ~500 times a
 * second. Refused rather than silently shortened.
 */
const timerDuration = positiveDuration.refine((ms) => ms <= MAX_TIMER_MS, {
  message: `must be at most ${formatDuration(MAX_TIMER_MS)} (about 24.8 days, the longest timer Node keeps)`,
});

const serviceName = checkedBy(serviceNameProblem);
const identifier = checkedBy(serviceIdProblem);
const metaKey = checkedBy(metaKeyProblem);

const headerValues = z
  .union([z.string(), z.array(z.string())], { error: 'must be a string or a list of strings' })
  .transform((v) => (typeof v === 'string' ? [v] : v));

const httpUrl = z.string().refine((text) => {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}, 'must be an http:// or https:// URL');

const tcpAddress = z.string().superRefine((text, ctx) => {
  const parsed = parseHostPort(text);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: `${parsed} (expected HOST:PORT)` });
  else if (parsed.port === 0) ctx.addIssue({ code: 'custom', message: `"${text}" has port 0` });
});

const grpcTarget = z.string().superRefine((text, ctx) => {
  const slash = text.indexOf('/');
  const parsed = parseHostPort(slash === -1 ? text : text.slice(0, slash));
  if (typeof parsed === 'string' || parsed.port === 0) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not HOST:PORT or HOST:PORT/SERVICE` });
  }
});

/** Consul's other check types, which Vigil does not run: named so the error says so. */
const UNSUPPORTED_CHECK_FIELDS = new Map(
  [
    'UDP',
    'H2PING',
    'H2PingUseTLS',
    'DockerContainerID',
    'Shell',
    'AliasService',
    'AliasNode',
    'OSService',
    'Script',
  ].map((f) => [fold(f), f]),
);

const NO_TYPE = 'has no check type: give one of HTTP, TCP, Args (exec), TTL or GRPC';

const TYPE_FIELDS = [
  ['HTTP', 'http'],
  ['TCP', 'tcp'],
  ['Args', 'exec'],
  ['TTL', 'ttl'],
  ['GRPC', 'grpc'],
] as const;

const TYPE_NAMES: Record<string, CheckSpec['type']> = {
  http: 'http',
  https: 'http',
  tcp: 'tcp',
  exec: 'exec',
  script: 'exec',
  args: 'exec',
  ttl: 'ttl',
  grpc: 'grpc',
};

const execArgs = z
  .array(z.string())
  .min(1, 'must hold the command and its arguments')
  .max(256, 'must hold at most 256 arguments')
  .refine((a) => (a[0] ?? '') !== '', 'the command (first element) must not be empty');

/** `OnPromote` / `OnDemote`: exec args run without a shell, as exec checks are. */
const hookSchema = z.preprocess(
  (v) => canonicalKeys(v, HOOK_KEYS),
  z.strictObject({ Args: execArgs, Timeout: positiveDuration.optional() }),
);

const rawCheckObject = z.strictObject({
  CheckID: identifier.optional(),
  Name: z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters').optional(),
  Notes: z.string().max(1024, 'must be at most 1024 characters').optional(),
  ServiceID: identifier.optional(),
  Status: z.enum(CHECK_STATUSES, { error: `must be one of ${CHECK_STATUSES.join(', ')}` }).optional(),
  Type: z.string().optional(),
  HTTP: httpUrl.optional(),
  Method: z
    .string()
    .regex(/^[A-Za-z]{1,16}$/, 'must be an HTTP method such as GET')
    .transform((m) => m.toUpperCase())
    .optional(),
  Header: z.record(z.string().min(1, 'header names must not be empty'), headerValues).optional(),
  Body: z
    .string()
    .max(64 * 1024, 'must be at most 64 KiB')
    .optional(),
  TLSSkipVerify: z.boolean().optional(),
  TLSServerName: z.string().optional(),
  DisableRedirects: z.boolean().optional(),
  TCP: tcpAddress.optional(),
  Args: execArgs.optional(),
  TTL: timerDuration.optional(),
  GRPC: grpcTarget.optional(),
  GRPCUseTLS: z.boolean().optional(),
  Interval: timerDuration
    .refine((ms) => ms >= MIN_CHECK_INTERVAL_MS, `must be at least ${formatDuration(MIN_CHECK_INTERVAL_MS)}`)
    .optional(),
  Timeout: timerDuration.optional(),
  SuccessBeforePassing: count.optional(),
  FailuresBeforeWarning: count.optional(),
  FailuresBeforeCritical: count.optional(),
  DeregisterCriticalServiceAfter: positiveDuration.optional(),
  OutputMaxSize: integer(1, MAX_OUTPUT_MAX_SIZE).optional(),
});

type RawCheck = z.output<typeof rawCheckObject>;

/** Picks the check type and checks the fields that depend on it. */
const checkSchema = z.preprocess(
  (v) => canonicalKeys(v, CHECK_KEYS),
  rawCheckObject.superRefine((check, ctx) => {
    const present = TYPE_FIELDS.filter(([field]) => check[field] !== undefined);
    if (check.Type !== undefined) {
      const named = TYPE_NAMES[check.Type.toLowerCase()];
      if (named === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['Type'],
          message: `unknown check type "${check.Type}" (supported: http, tcp, exec, ttl, grpc)`,
        });
        return;
      }
      if (present.length === 1 && present[0]![1] !== named) {
        ctx.addIssue({
          code: 'custom',
          path: ['Type'],
          message: `is "${check.Type}" but the check has ${present[0]![0]}`,
        });
      }
    }
    if (present.length === 0) {
      ctx.addIssue({
        code: 'custom',
        message: NO_TYPE,
      });
      return;
    }
    if (present.length > 1) {
      ctx.addIssue({
        code: 'custom',
        message: `has more than one check type (${present.map(([f]) => f).join(', ')}); give exactly one`,
      });
      return;
    }
    const [field, type] = present[0]!;
    if (type === 'ttl') {
      for (const f of ['SuccessBeforePassing', 'FailuresBeforeWarning', 'FailuresBeforeCritical'] as const) {
        if (check[f] !== undefined) {
          ctx.addIssue({ code: 'custom', path: [f], message: 'does not apply to TTL checks' });
        }
      }
    } else if (check.Interval === undefined) {
      ctx.addIssue({ code: 'custom', path: ['Interval'], message: `is required for ${field} checks` });
    }
    const critical = check.FailuresBeforeCritical ?? 0;
    if (check.FailuresBeforeWarning !== undefined && check.FailuresBeforeWarning > critical) {
      ctx.addIssue({
        code: 'custom',
        path: ['FailuresBeforeWarning'],
        message: `must not be greater than FailuresBeforeCritical (${critical})`,
      });
    }
    if (type !== 'http') {
      for (const f of ['Method', 'Header', 'Body', 'DisableRedirects'] as const) {
        if (check[f] !== undefined) ctx.addIssue({ code: 'custom', path: [f], message: 'applies only to HTTP checks' });
      }
    }
  }),
);

const weightsSchema = z.preprocess(
  (v) => canonicalKeys(v, WEIGHTS_KEYS),
  z.strictObject({
    Passing: integer(1, 65535).optional(),
    Warning: integer(0, 65535).optional(),
  }),
);

const emptyOrAbsent = (what: string) =>
  z
    .unknown()
    .refine((v) => v === undefined || v === null || (isPlainObject(v) && Object.keys(v).length === 0), {
      message: `${what} is not supported by Vigil`,
    })
    .optional();

const serviceSchema = z.preprocess(
  (v) => canonicalKeys(v, SERVICE_KEYS),
  z
    .strictObject({
      ID: identifier.optional(),
      Name: serviceName,
      Address: checkedBy(addressProblem).optional(),
      Port: integer(1, 65535),
      Tags: z
        .array(checkedBy(serviceTagProblem))
        .max(SERVICE_TAGS_MAX, `must hold at most ${SERVICE_TAGS_MAX} tags`)
        .optional(),
      Meta: z
        .record(metaKey, checkedBy(metaValueProblem))
        .refine((m) => Object.keys(m).length <= META_KEYS_MAX, `must hold at most ${META_KEYS_MAX} keys`)
        .optional(),
      Weights: weightsSchema.optional(),
      Weight: integer(1, 65535).optional(),
      Priority: integer(0, 1000).optional(),
      Policy: z
        .enum(['active-passive', 'active-active', 'leader'], {
          error: () => 'must be one of active-passive, active-active, leader',
        })
        .optional(),
      Voters: z.union([z.literal(3), z.literal(5)], { error: () => 'must be 3 or 5' }).optional(),
      OnPromote: hookSchema.optional(),
      OnDemote: hookSchema.optional(),
      Zone: z
        .string()
        .min(1, 'must not be empty')
        .max(64, 'must be at most 64 characters')
        .regex(/^[A-Za-z0-9._-]+$/, 'may hold only letters, digits, ".", "_" and "-"')
        .optional(),
      Check: checkSchema.optional(),
      Checks: z.array(checkSchema).max(32, 'must hold at most 32 checks').optional(),
      EnableTagOverride: z.boolean().optional(),
      TaggedAddresses: z.unknown().optional(),
      Kind: z
        .string()
        .refine(
          (k) => k === '' || k === 'typical',
          'only plain services are supported (no Connect proxies or gateways)',
        )
        .optional(),
      Proxy: emptyOrAbsent('Connect proxying'),
      Connect: emptyOrAbsent('Consul Connect'),
      Namespace: z.string().optional(),
      Partition: z.string().optional(),
    })
    .superRefine((s, ctx) => {
      if (s.Weight !== undefined && s.Weights !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['Weight'], message: 'give either Weight or Weights, not both' });
      }
      if (s.Policy !== 'leader') {
        for (const f of ['Voters', 'OnPromote', 'OnDemote'] as const) {
          if (s[f] !== undefined) {
            ctx.addIssue({ code: 'custom', path: [f], message: 'applies only to "Policy": "leader"' });
          }
        }
      }
    }),
);

// --- issues to messages -------------------------------------------------------------------------

function describeIssue(raw: unknown, issue: z.core.$ZodIssue): string[] {
  const where = displayPath(raw, issue.path);
  const prefix = (path: string) => (path === '' ? 'body: ' : `${path}: `);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const path = where === '' ? key : `${where}.${key}`;
      const unsupported = UNSUPPORTED_CHECK_FIELDS.get(fold(key));
      if (unsupported !== undefined) {
        return `${path}: unsupported check type ${unsupported} (supported: HTTP, TCP, Args, TTL, GRPC)`;
      }
      return `${path}: unknown field`;
    });
  }
  if (issue.code === 'invalid_type') {
    const input = (issue as { input?: unknown }).input;
    if (input === undefined) return [`${prefix(where)}is required`];
    const expected = issue.expected === 'int' ? 'whole number' : issue.expected;
    const article = /^[aeiou]/.test(expected) ? 'an' : 'a';
    return [`${prefix(where)}must be ${article} ${expected}`];
  }
  if (issue.code === 'invalid_value' && issue.path.length === 0) return [`body: ${issue.message}`];
  return [`${prefix(where)}${issue.message}`];
}

function validate<S extends z.ZodType>(schema: S, raw: unknown, root: string): z.output<S> {
  if (!isPlainObject(raw)) {
    const label = root === '' ? 'body: ' : root.endsWith('.') ? `${root.slice(0, -1)}: ` : root;
    throw new DefinitionError([`${label}must be a JSON object`]);
  }
  const result = schema.safeParse(raw, { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.flatMap((issue) => describeIssue(raw, issue));
  // A check that names a type Vigil does not run has no supported type either: say it once.
  const unsupported = problems.filter((p) => p.includes(': unsupported check type '));
  const redundant = (p: string) => {
    if (!p.endsWith(`: ${NO_TYPE}`)) return false;
    const at = p.slice(0, -(NO_TYPE.length + 2));
    return unsupported.some((u) => {
      const path = u.slice(0, u.indexOf(': unsupported check type '));
      return (path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : 'body') === at;
    });
  };
  problems.splice(0, problems.length, ...problems.filter((p) => !redundant(p)));
  throw new DefinitionError(root === '' ? problems : problems.map((p) => `${root}${p}`));
}

// --- to definitions -------------------------------------------------------------------------------

export interface ParseOptions {
  /** `DeregisterCriticalServiceAfter` below this is raised to it (Consul's 1m floor). */
  readonly minDeregisterAfterMs?: number;
  /** Prefix for problem messages, e.g. `web.json: ` for a file in services_dir. */
  readonly context?: string;
}

function toCheck(raw: RawCheck, id: string, defaultName: string, serviceId: string | undefined, opts: ParseOptions) {
  const type = TYPE_FIELDS.find(([field]) => raw[field] !== undefined)![1];
  const critical = raw.FailuresBeforeCritical ?? 0;
  const deregister = raw.DeregisterCriticalServiceAfter;
  const floor = opts.minDeregisterAfterMs ?? MIN_DEREGISTER_CRITICAL_AFTER_MS;
  const common = {
    id,
    name: raw.Name ?? defaultName,
    serviceId,
    notes: raw.Notes ?? '',
    initialStatus: raw.Status ?? 'critical',
    successBeforePassing: raw.SuccessBeforePassing ?? 0,
    failuresBeforeWarning: raw.FailuresBeforeWarning ?? critical,
    failuresBeforeCritical: critical,
    deregisterCriticalServiceAfterMs: deregister === undefined ? undefined : Math.max(deregister, floor),
    outputMaxSize: raw.OutputMaxSize ?? DEFAULT_OUTPUT_MAX_SIZE,
  };
  const interval = raw.Interval ?? 0;
  let spec: CheckSpec;
  switch (type) {
    case 'http':
      spec = {
        type,
        url: raw.HTTP!,
        method: raw.Method ?? 'GET',
        headers: raw.Header ?? {},
        body: raw.Body,
        tlsSkipVerify: raw.TLSSkipVerify ?? false,
        tlsServerName: raw.TLSServerName,
        disableRedirects: raw.DisableRedirects ?? false,
        intervalMs: interval,
        timeoutMs: raw.Timeout ?? DEFAULT_NETWORK_TIMEOUT_MS,
      };
      break;
    case 'tcp':
      spec = { type, address: raw.TCP!, intervalMs: interval, timeoutMs: raw.Timeout ?? DEFAULT_NETWORK_TIMEOUT_MS };
      break;
    case 'exec':
      spec = { type, args: raw.Args!, intervalMs: interval, timeoutMs: raw.Timeout ?? DEFAULT_EXEC_TIMEOUT_MS };
      break;
    case 'grpc':
      spec = {
        type,
        target: raw.GRPC!,
        useTls: raw.GRPCUseTLS ?? false,
        tlsSkipVerify: raw.TLSSkipVerify ?? false,
        intervalMs: interval,
        timeoutMs: raw.Timeout ?? DEFAULT_NETWORK_TIMEOUT_MS,
      };
      break;
    case 'ttl':
      spec = { type, ttlMs: raw.TTL! };
      break;
  }
  return { ...common, ...spec } as CheckDefinition;
}

function toHook(raw: { Args: string[]; Timeout?: number | undefined }): HookSpec {
  return { args: raw.Args, timeoutMs: raw.Timeout ?? DEFAULT_HOOK_TIMEOUT_MS };
}

/** Validates a service registration body (Consul's shape plus Priority, Zone, Weight). */
export function parseServiceRegistration(raw: unknown, opts: ParseOptions = {}): Registration {
  const root = opts.context ?? '';
  const body = validate(serviceSchema, raw, root);
  const id = body.ID ?? body.Name;
  const service: ServiceDefinition = {
    id,
    name: body.Name,
    address: body.Address ?? '',
    port: body.Port,
    tags: body.Tags ?? [],
    meta: body.Meta ?? {},
    weights: {
      passing: body.Weights?.Passing ?? body.Weight ?? 1,
      warning: body.Weights?.Warning ?? 1,
    },
    priority: body.Priority ?? 0,
    zone: body.Zone,
    policy: body.Policy,
    election:
      body.Policy === 'leader'
        ? {
            voters: body.Voters ?? 3,
            onPromote: body.OnPromote && toHook(body.OnPromote),
            onDemote: body.OnDemote && toHook(body.OnDemote),
          }
        : undefined,
  };

  const problems: string[] = [];
  const entries: { raw: RawCheck; path: (string | number)[]; id: string; defaultName: string }[] = [];
  // Consul's generated IDs: `service:<id>` for Check, `service:<id>:<n>` for Checks (1-based).
  if (body.Check) {
    entries.push({
      raw: body.Check,
      path: ['Check'],
      id: `service:${id}`,
      defaultName: `Service '${body.Name}' check`,
    });
  }
  (body.Checks ?? []).forEach((check, i) => {
    entries.push({
      raw: check,
      path: ['Checks', i],
      id: `service:${id}:${i + 1}`,
      defaultName: `Service '${body.Name}' check`,
    });
  });
  const seen = new Set<string>();
  const checks: CheckDefinition[] = [];
  for (const entry of entries) {
    const checkId = entry.raw.CheckID ?? entry.id;
    if (entry.raw.ServiceID !== undefined && entry.raw.ServiceID !== id) {
      problems.push(
        `${displayPath(raw, [...entry.path, 'ServiceID'])}: is "${entry.raw.ServiceID}" but the service ID is "${id}"`,
      );
    }
    if (seen.has(checkId)) {
      problems.push(`${displayPath(raw, [...entry.path, 'CheckID'])}: "${checkId}" is used by another check`);
    }
    seen.add(checkId);
    checks.push(toCheck(entry.raw, checkId, entry.defaultName, id, opts));
  }
  if (problems.length > 0) throw new DefinitionError(problems.map((p) => `${root}${p}`));
  return { service, checks };
}

/** Validates a standalone check body (`PUT /v1/agent/check/register`): Name is required, ID defaults to it. */
export function parseCheckRegistration(raw: unknown, opts: ParseOptions = {}): CheckDefinition {
  const root = opts.context ?? '';
  const body = validate(checkSchema, raw, root);
  if (body.Name === undefined) throw new DefinitionError([`${root}Name: is required`]);
  return toCheck(body, body.CheckID ?? body.Name, body.Name, body.ServiceID, opts);
}

// --- back to Consul's shape ---------------------------------------------------------------------

/** A check as a registration body: what is persisted, and what GET returns as `Definition`. */
export function checkToBody(check: CheckDefinition): Record<string, unknown> {
  const body: Record<string, unknown> = {
    CheckID: check.id,
    Name: check.name,
    Notes: check.notes,
    Status: check.initialStatus,
  };
  if (check.serviceId !== undefined) body.ServiceID = check.serviceId;
  switch (check.type) {
    case 'http':
      Object.assign(body, {
        HTTP: check.url,
        Method: check.method,
        Header: check.headers,
        TLSSkipVerify: check.tlsSkipVerify,
        DisableRedirects: check.disableRedirects,
      });
      if (check.body !== undefined) body.Body = check.body;
      if (check.tlsServerName !== undefined) body.TLSServerName = check.tlsServerName;
      break;
    case 'tcp':
      body.TCP = check.address;
      break;
    case 'exec':
      body.Args = check.args;
      break;
    case 'grpc':
      Object.assign(body, { GRPC: check.target, GRPCUseTLS: check.useTls, TLSSkipVerify: check.tlsSkipVerify });
      break;
    case 'ttl':
      body.TTL = formatDuration(check.ttlMs);
      break;
  }
  if (check.type !== 'ttl') {
    Object.assign(body, {
      Interval: formatDuration(check.intervalMs),
      Timeout: formatDuration(check.timeoutMs),
      SuccessBeforePassing: check.successBeforePassing,
      FailuresBeforeWarning: check.failuresBeforeWarning,
      FailuresBeforeCritical: check.failuresBeforeCritical,
    });
  }
  if (check.deregisterCriticalServiceAfterMs !== undefined) {
    body.DeregisterCriticalServiceAfter = formatDuration(check.deregisterCriticalServiceAfterMs);
  }
  body.OutputMaxSize = check.outputMaxSize;
  return body;
}

/** A service as a registration body, without its checks. */
export function serviceToBody(service: ServiceDefinition): Record<string, unknown> {
  const body: Record<string, unknown> = {
    ID: service.id,
    Name: service.name,
    Address: service.address,
    Port: service.port,
    Tags: service.tags,
    Meta: service.meta,
    Weights: { Passing: service.weights.passing, Warning: service.weights.warning },
    Priority: service.priority,
  };
  if (service.zone !== undefined) body.Zone = service.zone;
  if (service.policy !== undefined) body.Policy = service.policy;
  const election = service.election;
  if (election !== undefined) {
    body.Voters = election.voters;
    const hook = (h: HookSpec) => ({ Args: h.args, Timeout: formatDuration(h.timeoutMs) });
    if (election.onPromote) body.OnPromote = hook(election.onPromote);
    if (election.onDemote) body.OnDemote = hook(election.onDemote);
  }
  return body;
}
