import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runHttpCheck } from '../src/health/http-check.ts';
import type { HttpCheckSpec } from '../src/services/definition.ts';
import { pollingCheckOf, probeCtx } from './helpers/checks.ts';
import { TestHttpServer } from './helpers/servers.ts';

let server: TestHttpServer;
beforeEach(async () => {
  server = await TestHttpServer.start();
});
afterEach(() => server.close());

const spec = (url: string, extra: Record<string, unknown> = {}) =>
  pollingCheckOf({ HTTP: url, Interval: '1s', ...extra }) as HttpCheckSpec & ReturnType<typeof pollingCheckOf>;

describe('HTTP check', () => {
  it('is passing on 2xx, warning on 429 and critical on 500', async () => {
    const check = spec(`${server.url}/health`);
    server.body = 'all good';
    const ok = await runHttpCheck(check, probeCtx());
    expect(ok.status).toBe('passing');
    expect(ok.output).toBe(`HTTP GET ${server.url}/health: 200 OK Output: all good`);

    server.mode = 204;
    expect((await runHttpCheck(check, probeCtx())).status).toBe('passing');
    server.mode = 429;
    expect((await runHttpCheck(check, probeCtx())).status).toBe('warning');
    server.mode = 500;
    const bad = await runHttpCheck(check, probeCtx());
    expect(bad.status).toBe('critical');
    expect(bad.output).toContain('500 Internal Server Error');
    server.mode = 404;
    expect((await runHttpCheck(check, probeCtx())).status).toBe('critical');
  });

  it('is critical when the server is gone', async () => {
    const check = spec(`${server.url}/health`);
    await server.close();
    const result = await runHttpCheck(check, probeCtx());
    expect(result.status).toBe('critical');
    expect(result.output).toMatch(/ECONNREFUSED/);
  });

  it('settles as soon as the signal aborts when the server hangs', async () => {
    server.mode = 'hang';
    const controller = new AbortController();
    const pending = runHttpCheck(spec(`${server.url}/`), { signal: controller.signal, outputMaxSize: 4096 });
    await new Promise((r) => setTimeout(r, 50));
    controller.abort(new Error('check timed out'));
    expect((await pending).status).toBe('critical');
  });

  it('follows redirects unless told not to', async () => {
    expect((await runHttpCheck(spec(`${server.url}/redirect`), probeCtx())).status).toBe('passing');
    const stopped = await runHttpCheck(spec(`${server.url}/redirect`, { DisableRedirects: true }), probeCtx());
    expect(stopped.status).toBe('critical');
    expect(stopped.output).toContain('302');
  });

  it('cuts the body in the output to OutputMaxSize', async () => {
    server.body = 'x'.repeat(100_000);
    const result = await runHttpCheck(spec(`${server.url}/`), probeCtx(5000, 1000));
    expect(result.status).toBe('passing');
    expect(result.output.length).toBeLessThan(1200);
    expect(result.output).toContain('truncated');
  });

  it('sends the method, headers and body it is given', async () => {
    let seen: { method?: string; header?: string; body?: string } = {};
    server.server.removeAllListeners('request');
    server.server.on('request', (req, res) => {
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', () => {
        seen = { method: req.method, header: req.headers['x-probe'] as string, body };
        res.end('ok');
      });
    });
    const check = spec(`${server.url}/`, { Method: 'post', Header: { 'X-Probe': ['yes'] }, Body: '{"a":1}' });
    expect((await runHttpCheck(check, probeCtx())).status).toBe('passing');
    expect(seen).toEqual({ method: 'POST', header: 'yes', body: '{"a":1}' });
  });
});
