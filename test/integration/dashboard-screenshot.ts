/// <reference lib="dom" />
// A screenshot of the dashboard of a 5-agent cluster with one member dead, for the README and
// reviews: `node test/integration/dashboard-screenshot.ts [OUT.png]` (from the repository root,
// through npx for Node 24). Not a test: it asserts nothing beyond getting there.

import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';
import { AgentProcess, disposeAllAgents } from './harness/agent-process.ts';
import { waitFor } from './harness/wait-for.ts';

const out = process.argv[2] ?? fileURLToPath(new URL('./artifacts/dashboard-5-agents.png', import.meta.url));

async function put(agent: AgentProcess, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${agent.url}${path}`, { method: 'PUT', body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
}

try {
  const zones = ['west', 'west', 'east', 'east', 'east'];
  const first = await AgentProcess.start({ node: 'agent-1', extraArgs: ['--zone', 'west'] });
  const agents = [first];
  for (let i = 2; i <= 5; i++) {
    const join = ['--join', `127.0.0.1:${first.gossipPort}`, '--zone', zones[i - 1] ?? 'east'];
    agents.push(await AgentProcess.start({ node: `agent-${i}`, extraArgs: join }));
  }
  const [a1, a2, a3, a4, a5] = agents as [AgentProcess, AgentProcess, AgentProcess, AgentProcess, AgentProcess];
  await put(a1, '/v1/agent/service/register', { Name: 'payments', ID: 'payments-1', Port: 8080, Weight: 3 });
  await put(a2, '/v1/agent/service/register', { Name: 'payments', ID: 'payments-2', Port: 8080 });
  await put(a3, '/v1/agent/service/register', { Name: 'payments', ID: 'payments-3', Port: 8080, Priority: 1 });
  await put(a4, '/v1/agent/service/register', { Name: 'ledger', ID: 'ledger-4', Port: 9090, Tags: ['primary'] });
  await put(a5, '/v1/agent/service/register', { Name: 'ledger', ID: 'ledger-5', Port: 9090, Priority: 1 });
  await put(a5, '/v1/agent/service/register', { Name: 'search', ID: 'search-5', Port: 9200 });
  await waitFor('agent-1 to see 5 members and 3 services', async () => {
    const members = (await a1.get<unknown[]>('/v1/members')).body;
    const routes = (await a1.get<{ tables?: unknown[] }>('/v1/routes')).body;
    return members.length === 5 && routes.tables?.length === 3;
  });
  const browser = await puppeteer.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    await page.goto(`${a1.url}/ui/`);
    await page.waitForFunction(() => document.querySelectorAll('#members tbody tr').length === 5);
    await a5.stop('SIGKILL');
    await page.waitForFunction(
      () => document.querySelector('#members tr[data-member="agent-5"] td.status')?.textContent === 'dead',
      { timeout: 60_000 },
    );
    await page.click('#members tr[data-member="agent-5"] button');
    await page.waitForFunction(() => !document.getElementById('explain')?.hidden);
    await new Promise((r) => setTimeout(r, 500));
    await page.screenshot({ path: out, fullPage: true });
    console.log(out);
  } finally {
    await browser.close();
  }
} finally {
  await disposeAllAgents();
}
