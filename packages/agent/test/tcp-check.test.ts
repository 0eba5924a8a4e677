import { afterEach, describe, expect, it } from 'vitest';
import { runTcpCheck } from '../src/health/tcp-check.ts';
import type { TcpCheckSpec } from '../src/services/definition.ts';
import { pollingCheckOf, probeCtx } from './helpers/checks.ts';
import { startTcpServer } from './helpers/servers.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

describe('TCP check', () => {
  it('is passing while something listens and critical once it stops', async () => {
    const server = await startTcpServer();
    cleanups.push(server.close);
    const check = pollingCheckOf({ TCP: `127.0.0.1:${server.port}`, Interval: '1s' }) as TcpCheckSpec &
      ReturnType<typeof pollingCheckOf>;
    const up = await runTcpCheck(check, probeCtx());
    expect(up).toEqual({ status: 'passing', output: `TCP connect 127.0.0.1:${server.port}: Success` });
    await server.close();
    const down = await runTcpCheck(check, probeCtx());
    expect(down.status).toBe('critical');
    expect(down.output).toMatch(/ECONNREFUSED/);
  });
});
