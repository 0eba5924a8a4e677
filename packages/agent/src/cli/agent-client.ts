import { CliUsageError } from './cli-usage-error.ts';
import { escapeTerminal, safe } from './terminal-text.ts';

/**
 * How CLI commands reach the local agent's HTTP API: `--http-addr` or VIGIL_HTTP_ADDR (as Consul's
 * CONSUL_HTTP_ADDR), default http://127.0.0.1:7948; the ACL token from `--token`, VIGIL_HTTP_TOKEN
 * or VIGIL_ACL_TOKEN.
 */

export const DEFAULT_HTTP_ADDR = 'http://127.0.0.1:7948';

/** Flags every API command takes. */
export const CLIENT_FLAGS = {
  'http-addr': { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const CLIENT_HELP = `  --http-addr ADDR   the agent's HTTP API (default ${DEFAULT_HTTP_ADDR}; env VIGIL_HTTP_ADDR)
  --token TOKEN      ACL token for write endpoints (env VIGIL_HTTP_TOKEN or VIGIL_ACL_TOKEN)
`;

/** An answer from the agent that is not a success, or no answer at all: printed, exit code 1. */
export class AgentRequestError extends Error {
  override readonly name = 'AgentRequestError';
}

export function agentBaseUrl(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const raw = flag ?? env.VIGIL_HTTP_ADDR ?? DEFAULT_HTTP_ADDR;
  const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `http://${raw}`;
  try {
    const url = new URL(withScheme);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
    return url.origin;
  } catch {
    throw new CliUsageError(`--http-addr: "${raw}" is not an address such as 127.0.0.1:7948 or http://127.0.0.1:7948`);
  }
}

export class AgentClient {
  readonly base: string;
  private readonly token: string | undefined;

  constructor(values: { 'http-addr'?: string | undefined; token?: string | undefined }, env = process.env) {
    this.base = agentBaseUrl(values['http-addr'], env);
    this.token = values.token ?? env.VIGIL_HTTP_TOKEN ?? env.VIGIL_ACL_TOKEN;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  put<T = void>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  send<T = void>(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    return this.request<T>(method, path, body);
  }

  /** A GET whose answer is a stream (no timeout): the body, once the agent said 200. */
  async stream(path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const headers: Record<string, string> = this.token ? { 'x-vigil-token': this.token } : {};
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { headers, ...(signal ? { signal } : {}) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new AgentRequestError(
        `cannot reach the agent at ${this.base} (${cause}); is it running? Set --http-addr or VIGIL_HTTP_ADDR`,
      );
    }
    if (!res.ok || !res.body) {
      const text = await res.text();
      let message = text || res.statusText;
      try {
        message = String((JSON.parse(text) as { error?: unknown }).error ?? message);
      } catch {
        // not JSON: the text itself
      }
      throw new AgentRequestError(`GET ${path}: ${res.status}: ${message}`);
    }
    return res.body;
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token) headers['x-vigil-token'] = this.token;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new AgentRequestError(
        `cannot reach the agent at ${this.base} (${cause}); is it running? Set --http-addr or VIGIL_HTTP_ADDR`,
      );
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = text;
    }
    if (!res.ok) {
      const message =
        typeof parsed === 'object' && parsed !== null && 'error' in parsed
          ? String(parsed.error)
          : text || res.statusText;
      throw new AgentRequestError(`${method} ${path}: ${res.status}: ${message}`);
    }
    return parsed as T;
  }
}

/** Lays out rows in aligned columns, two spaces apart; every cell escaped for the terminal. */
export function table(cells: readonly (readonly string[])[]): string {
  const rows = cells.map((row) => row.map(escapeTerminal));
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** Runs an API command: usage errors propagate (exit 2), agent errors are printed (exit 1). */
export async function withAgent(name: string, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AgentRequestError) {
      process.stderr.write(safe`vigil ${name}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
