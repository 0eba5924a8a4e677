import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentProcess, disposeAllAgents } from './harness/agent-process.ts';
import { freePort } from './harness/free-port.ts';
import { HttpTarget } from './harness/http-target.ts';
import { waitFor } from './harness/wait-for.ts';

// A real consul_sd_configs client against the Consul-compatible API. Debian 12's `prometheus`
// (2.42.0+ds) is built without Consul service discovery ("field consul_sd_configs not found in
// type config.ScrapeConfig"), so this uses Debian's `vmagent` (package victoria-metrics, which
// .ci/run installs): the same Prometheus scrape-config format and consul_sd_configs, the same
// Consul endpoints and blocking queries, and a Prometheus-compatible /api/v1/targets.

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await disposeAllAgents();
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Target {
  discoveredLabels: Record<string, string>;
}

async function startScraper(consulAddr: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-vmagent-'));
  const port = await freePort();
  const config = [
    'global:',
    '  scrape_interval: 1h',
    'scrape_configs:',
    '  - job_name: vigil',
    '    consul_sd_configs:',
    `      - server: '${consulAddr}'`,
    // As users do: health and tags become target labels. (vmagent also shows a target's
    // discovered labels as of when its final labels last changed, so this makes changes visible.)
    '    relabel_configs:',
    '      - source_labels: [__meta_consul_health]',
    '        target_label: health',
    '      - source_labels: [__meta_consul_tags]',
    '        target_label: tags',
  ].join('\n');
  await writeFile(join(dir, 'prometheus.yml'), `${config}\n`);
  const child: ChildProcess = spawn(
    'vmagent',
    [
      `-promscrape.config=${join(dir, 'prometheus.yml')}`,
      '-promscrape.consulSDCheckInterval=1s',
      `-httpListenAddr=127.0.0.1:${port}`,
      // Nothing is scraped (interval 1h); remote write goes to a closed local port.
      '-remoteWrite.url=http://127.0.0.1:9/api/v1/write',
      `-remoteWrite.tmpDataPath=${join(dir, 'queue')}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr?.on('data', (d) => {
    log += d;
  });
  cleanups.push(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    await rm(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor('vmagent to answer', async () => (await fetch(`${url}/api/v1/targets`)).ok, 30_000).catch(
    (err: Error) => {
      throw new Error(`${err.message}\n${log.slice(-2000)}`);
    },
  );
  return url;
}

async function targets(prometheus: string): Promise<Target[]> {
  const res = await fetch(`${prometheus}/api/v1/targets`);
  const body = (await res.json()) as { data: { activeTargets: Target[]; droppedTargets: Target[] } };
  return [...body.data.activeTargets, ...body.data.droppedTargets];
}

describe('consul_sd_configs (vmagent) against a Vigil agent', () => {
  it('discovers services registered across the cluster, with tags, and follows health', async () => {
    const a = await AgentProcess.start({ node: 'p0' });
    const b = await AgentProcess.start({ node: 'p1', extraArgs: ['--join', `127.0.0.1:${a.gossipPort}`] });
    const web = await HttpTarget.start();
    const api = await HttpTarget.start();
    cleanups.push(
      () => web.close(),
      () => api.close(),
    );
    const register = async (agent: AgentProcess, body: Record<string, unknown>) => {
      const res = await fetch(`${agent.url}/v1/agent/service/register`, { method: 'PUT', body: JSON.stringify(body) });
      expect(res.status).toBe(200);
    };
    await register(a, {
      Name: 'web',
      ID: 'web-1',
      Port: web.port,
      Tags: ['frontend', 'v1'],
      Check: { HTTP: web.url, Interval: '200ms' },
    });
    await register(b, {
      Name: 'api',
      ID: 'api-1',
      Port: api.port,
      Tags: ['backend'],
      Check: { HTTP: api.url, Interval: '200ms' },
    });

    const prometheus = await startScraper(`127.0.0.1:${a.httpPort}`);
    const find = (ts: Target[], service: string) =>
      ts.find((t) => t.discoveredLabels.__meta_consul_service === service);
    const found = await waitFor(
      'both services as Prometheus targets',
      async () => {
        const ts = await targets(prometheus);
        return find(ts, 'web') && find(ts, 'api') ? ts : undefined;
      },
      60_000,
      500,
    );
    expect(find(found, 'web')!.discoveredLabels).toMatchObject({
      __address__: `127.0.0.1:${web.port}`,
      __meta_consul_node: 'p0',
      __meta_consul_dc: 'dc1',
      __meta_consul_tags: ',frontend,v1,',
      __meta_consul_health: 'passing',
    });
    expect(find(found, 'api')!.discoveredLabels).toMatchObject({
      __meta_consul_node: 'p1',
      __meta_consul_tags: ',backend,',
    });

    // An instance on the other agent goes critical; Prometheus' blocking watch sees it.
    api.mode = 500;
    await waitFor(
      'api critical in Prometheus',
      async () => find(await targets(prometheus), 'api')?.discoveredLabels.__meta_consul_health === 'critical',
      60_000,
      500,
    );
  }, 150_000);
});
