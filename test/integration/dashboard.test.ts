/// <reference lib="dom" />
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, disposeAllAgents, runVigil } from './harness/agent-process.ts';
import { waitFor } from './harness/wait-for.ts';

// The dashboard in a real headless Chromium (Debian's `chromium`), driven by puppeteer-core,
// against a live 3-agent cluster: it must follow a crash and a failing check without a reload.

const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));

let agents: AgentProcess[] = [];
let browser: Browser;
let page: Page;

async function put(agent: AgentProcess, path: string, body?: unknown): Promise<void> {
  const res = await fetch(`${agent.url}${path}`, {
    method: 'PUT',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.status, await res.text()).toBe(200);
}

/** The text of the status cell of a member's row, as the page shows it. */
function memberStatus(name: string): Promise<string | undefined> {
  return page.evaluate(
    (n) => document.querySelector(`#members tr[data-member="${CSS.escape(n)}"] td.status`)?.textContent ?? undefined,
    name,
  );
}

beforeAll(async () => {
  const a = await AgentProcess.start({ node: 'a', extraArgs: ['--failback-hold-down', '0s', '--zone', 'west'] });
  const join = ['--join', `127.0.0.1:${a.gossipPort}`, '--failback-hold-down', '0s'];
  const [b, c] = await Promise.all([
    AgentProcess.start({ node: 'b', extraArgs: [...join, '--zone', 'west'] }),
    AgentProcess.start({ node: 'c', extraArgs: [...join, '--zone', 'east'] }),
  ]);
  agents = [a, b, c];
  await put(a, '/v1/agent/service/register', {
    Name: 'web',
    ID: 'web-a',
    Port: 8001,
    Check: { CheckID: 'web-a-ttl', TTL: '1h', Status: 'passing' },
  });
  await put(b, '/v1/agent/service/register', { Name: 'web', ID: 'web-b', Port: 8002 });
  await put(c, '/v1/agent/service/register', { Name: 'web', ID: 'web-c', Port: 8003, Priority: 1 });
  // A hostile-looking name from the network: it must show as text, never as markup.
  await put(b, '/v1/agent/service/register', {
    Name: 'x-img',
    ID: 'x-img',
    Tags: ['<img src=x onerror=alert(1)>'],
    Port: 9,
  });
  await waitFor('a to route web over 3 endpoints', async () => {
    const web = (await a.get<{ endpoints?: unknown[] }>('/v1/routes/web')).body;
    return web.endpoints?.length === 3;
  });
  browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'],
    headless: true,
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 1000 });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await disposeAllAgents();
});

describe('dashboard', () => {
  it('follows a crash (suspect, then dead) and a failing check live, without a reload', async () => {
    const [a, , c] = agents as [AgentProcess, AgentProcess, AgentProcess];
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    let navigations = 0;
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations++;
    });
    await page.goto(`${a.url}/ui/`, { waitUntil: 'load' });
    await page.waitForFunction(
      () =>
        document.querySelectorAll('#members tbody tr').length === 3 && document.querySelector('[data-service="web"]'),
      { timeout: 20_000 },
    );
    expect(await memberStatus('c')).toBe('alive');
    expect(await page.$eval('[data-service="web"] h3', (h) => h.textContent)).toContain('N+2');
    expect(await page.$eval('#connection', (n) => n.textContent)).toBe('live');
    // The hostile instance id is text in a cell, and no <img> element exists anywhere.
    expect(await page.$$eval('img', (imgs) => imgs.length)).toBe(0);
    expect(await page.$eval('[data-service="x-img"] tbody td:nth-child(2)', (td) => td.textContent)).toBe(
      'x-img <img src=x onerror=alert(1)>',
    );
    // A marker in the page's memory: a reload would lose it.
    await page.evaluate(() => {
      (window as unknown as { marker: string }).marker = 'still here';
    });

    // Every status the page renders for c, recorded in the page as the DOM changes: polling from
    // here could miss a short suspect phase on a loaded host.
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { seen: string[] }).seen = seen;
      const note = () => {
        const s = document.querySelector('#members tr[data-member="c"] td.status')?.textContent;
        if (s && seen.at(-1) !== s) seen.push(s);
      };
      note();
      new MutationObserver(note).observe(document.getElementById('members')!, {
        childList: true,
        subtree: true,
        characterData: true,
      });
    });
    await c.stop('SIGKILL');
    await page.waitForFunction(() => (window as unknown as { seen: string[] }).seen.at(-1) === 'dead', {
      timeout: 60_000,
    });
    const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
    // Suspect came first (SWIM's suspicion before the verdict), and the problems list says so.
    expect(seen).toEqual(['alive', 'suspect', 'dead']);
    expect(await page.$eval('#problems', (p) => p.textContent)).toContain('member c is dead');
    // The route change follows the member change on the stream: wait for it, it may be a frame behind.
    await page.waitForFunction(() => document.querySelector('[data-service="web"] h3')?.textContent?.includes('N+1'), {
      timeout: 10_000,
    });

    // The verdict explained: API, CLI and the page's explain button tell who accused c, how, and
    // that it ended dead. a and b both probe c; whichever accused first, the other confirmed.
    type Verdict = {
      accuser: string;
      cause: string;
      paths?: { path: string }[];
      confirmations: { by: string }[];
      end?: { how: string };
    };
    const explained = (await a.get<{ member: { status: string }; history: Verdict[] }>('/v1/members/c')).body;
    expect(explained.member.status).toBe('dead');
    const verdict = explained.history[0];
    expect(verdict?.end?.how).toBe('dead');
    expect(['a', 'b']).toContain(verdict?.accuser);
    if (verdict?.cause === 'probe') expect(verdict.paths?.map((p) => p.path)).toEqual(['direct', 'indirect', 'tcp']);
    const cli = await runVigil(['members', '--explain', 'c', '--http-addr', `127.0.0.1:${a.httpPort}`]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/^c: dead, incarnation 1$/m);
    expect(cli.stdout).toMatch(/Suspected at .*, incarnation 1: /);
    expect(cli.stdout).toMatch(/ended .*: dead/);
    await page.click('#members tr[data-member="c"] button');
    await page.waitForFunction(() => document.getElementById('explain-body')?.textContent?.includes('ended: dead'), {
      timeout: 10_000,
    });
    expect((await a.get('/v1/members/nobody')).status).toBe(404);

    await put(a, '/v1/agent/check/fail/web-a-ttl');
    await page.waitForFunction(
      () =>
        document.querySelector('[data-service="web"] h3')?.textContent?.includes('N+0') &&
        document.querySelector('[data-service="web"] tr[data-instance="web-a"] td.health')?.textContent === 'critical',
      { timeout: 20_000 },
    );
    expect(await page.$eval('#problems', (p) => p.textContent)).toContain('service web is at N+0');

    expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe('still here');
    expect(navigations).toBe(1);
    expect(errors).toEqual([]);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-3-agents.png`, fullPage: true });
  }, 120_000);

  it('serves every asset itself, with a CSP that allows nothing from elsewhere', async () => {
    const a = agents[0] as AgentProcess;
    const res = await fetch(`${a.url}/ui/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'/);
    const html = await res.text();
    expect(html).not.toMatch(/https?:\/\//);
    for (const asset of ['app.js', 'style.css']) expect((await fetch(`${a.url}/ui/${asset}`)).status).toBe(200);
    expect((await fetch(`${a.url}/ui/..%2Fagent.ts`)).status).toBe(404);
  });
});
