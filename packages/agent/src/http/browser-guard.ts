import { isIP } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { drainRequestBody } from './drain-request.ts';

/**
 * Keeps web pages out of the local API. Two attacks reach a loopback API from a browser:
 *
 * - DNS rebinding: a page at `evil.example` makes its name resolve to 127.0.0.1 and then talks to
 *   the API as its own origin, reading answers too. The browser still sends `Host: evil.example`,
 *   so only Host values that name this agent are served: IP literals (a rebinding needs a name),
 *   `localhost`, and the names an operator allows (`--http-allowed-host`).
 * - Cross-site request forgery: any page may send a write (a form, or `fetch` in no-cors mode)
 *   without reading the answer. Browsers mark such requests with `Origin` and `Sec-Fetch-Site`,
 *   so a write whose Origin is not the API's own, or any request a browser calls `cross-site`,
 *   is refused. Tools (curl, the CLI, the SDK, Prometheus) send neither header.
 */

/** Methods a browser may send across origins without a preflight that are still only reads. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The host name of a Host header, lowercased, IPv6 in brackets; undefined if it is not one. */
export function hostName(host: string): string | undefined {
  if (host === '' || /[\s/?#@\\]/.test(host)) return undefined;
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return undefined;
  }
}

/**
 * Whether `host` (a Host header: name or address, with or without a port) names this agent. IP
 * literals always do: DNS rebinding needs a name the attacker controls.
 */
export function isAllowedHost(host: string, allowedNames: ReadonlySet<string>): boolean {
  const name = hostName(host);
  if (name === undefined) return false;
  if (isIP(name) !== 0 || (name.startsWith('[') && isIP(name.slice(1, -1)) === 6)) return true;
  return name === 'localhost' || allowedNames.has(name);
}

/** Names the operator allows, as the guard compares them (lowercase, no trailing dot). */
export function allowedHostSet(names: readonly string[]): ReadonlySet<string> {
  return new Set(names.map((n) => n.toLowerCase().replace(/\.$/, '')));
}

/** Why a request must be refused, or undefined when it may go on. */
export function browserRefusal(
  req: { method: string; headers: Record<string, string | string[] | undefined> },
  allowedNames: ReadonlySet<string>,
): { status: number; error: string } | undefined {
  const host = typeof req.headers.host === 'string' ? req.headers.host : undefined;
  // HTTP/1.0 clients may omit Host; browsers never do.
  if (host !== undefined && !isAllowedHost(host, allowedNames)) {
    return {
      status: 403,
      error: `Host "${host.slice(0, 100)}" does not name this agent (DNS rebinding?); use its address, localhost, or allow the name with --http-allowed-host`,
    };
  }
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site') {
    return { status: 403, error: 'cross-site request refused: web pages may not use the agent API' };
  }
  if (SAFE_METHODS.has(req.method)) return undefined;
  if (site === 'same-site') {
    return { status: 403, error: `cross-origin ${req.method} refused: web pages may not change the agent` };
  }
  const origin = req.headers.origin;
  if (typeof origin === 'string' && !sameOrigin(origin, host)) {
    return {
      status: 403,
      error: `cross-origin ${req.method} refused: Origin "${origin.slice(0, 100)}" is not this agent's API`,
    };
  }
  return undefined;
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' && url.host === new URL(`http://${host}`).host;
  } catch {
    // `Origin: null` (sandboxed frames, file: pages) lands here, and is refused.
    return false;
  }
}

/** An onRequest hook refusing what `browserRefusal` names, before any route or body parsing. */
export function guardBrowsers(allowedHosts: readonly string[]) {
  const names = allowedHostSet(allowedHosts);
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const refusal = browserRefusal(req, names);
    if (refusal === undefined) return;
    drainRequestBody(req.raw);
    await reply.code(refusal.status).send({ error: refusal.error });
  };
}
