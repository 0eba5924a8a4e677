import type { IncomingMessage } from 'node:http';
// node:http{,s,2} through getBuiltinModule, not an ESM import: importing node:http as an ES module
// reads every export, including its lazy WebSocket getters, which load Node's bundled undici
// (~75 ms of CPU at every start, measured); https and http2 also pull in TLS. Loaded at first use.
import type { HttpCheckSpec } from './check-spec.ts';
import { MAX_HTTP_REDIRECTS } from './defaults.ts';
import { truncateHead } from './output.ts';
import type { ProbeContext } from './probe.ts';
import type { CheckResult } from './status.ts';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

interface Response {
  readonly status: number;
  readonly statusText: string;
  readonly location: string | undefined;
  readonly body: string;
}

function send(
  url: URL,
  method: string,
  body: string | undefined,
  spec: HttpCheckSpec,
  ctx: ProbeContext,
): Promise<Response> {
  const headers: Record<string, string | string[]> = {
    'user-agent': 'Vigil Health Check',
    accept: 'text/plain, text/*, */*',
  };
  for (const [name, values] of Object.entries(spec.headers)) headers[name.toLowerCase()] = [...values];
  const https = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = process.getBuiltinModule(https ? 'node:https' : 'node:http').request(url, {
      method,
      headers,
      signal: ctx.signal,
      // A fresh connection per probe: a pooled one could hide a listener that stopped accepting.
      agent: false,
      ...(https ? { rejectUnauthorized: !spec.tlsSkipVerify, servername: spec.tlsServerName } : {}),
    });
    req.once('error', reject);
    req.once('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = () => {
        res.destroy();
        resolve({
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? '',
          location: res.headers.location,
          body: truncateHead(Buffer.concat(chunks).toString('utf8'), ctx.outputMaxSize),
        });
      };
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        // Enough for the output: stop reading (Consul reads at most output_max_size of the body).
        if (size > ctx.outputMaxSize) finish();
      });
      res.once('end', finish);
      res.once('error', reject);
    });
    req.end(body);
  });
}

/** HTTP(S) check: 2xx is passing, 429 is warning, anything else or no answer is critical. */
export async function runHttpCheck(spec: HttpCheckSpec, ctx: ProbeContext): Promise<CheckResult> {
  let url = new URL(spec.url);
  let method = spec.method;
  let body = spec.body;
  for (let hop = 0; ; hop++) {
    const label = `HTTP ${method} ${url.href}`;
    let res: Response;
    try {
      res = await send(url, method, body, spec, ctx);
    } catch (err) {
      return { status: 'critical', output: `${label}: ${(err as Error).message}` };
    }
    if (REDIRECTS.has(res.status) && res.location && !spec.disableRedirects) {
      if (hop >= MAX_HTTP_REDIRECTS) {
        return { status: 'critical', output: `${label}: stopped after ${MAX_HTTP_REDIRECTS} redirects` };
      }
      url = new URL(res.location, url);
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
      }
      continue;
    }
    const output = `${label}: ${res.status} ${res.statusText} Output: ${res.body}`;
    if (res.status >= 200 && res.status < 300) return { status: 'passing', output };
    if (res.status === 429) return { status: 'warning', output };
    return { status: 'critical', output };
  }
}
