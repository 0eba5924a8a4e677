import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsAgent, NetnsLab } from './harness/netns.ts';
import { waitFor } from './harness/wait-for.ts';

// Stale-if-error on real hosts: two agents in their own network namespaces; h0's catalog plane
// (libp2p, TCP 7947) to h1 is cut with nftables inside h0's namespace while gossip (7946) still
// flows. h0 must keep answering DNS for h1's service from the tables it has. Needs root (or
// CAP_SYS_ADMIN + CAP_NET_ADMIN), iproute2, nftables, curl and dig; without them it fails, never skips.

const exec = promisify(execFile);
const KEY = Buffer.alloc(32, 9).toString('base64');

let lab: NetnsLab | undefined;
const agents: NetnsAgent[] = [];
let dir: string;

/** Runs a command inside a namespace. */
async function inNs(ns: string, ...cmd: string[]): Promise<string> {
  const { stdout } = await exec('ip', ['netns', 'exec', ns, ...cmd], { timeout: 15_000 });
  return stdout;
}

const dig = (ns: string, ...args: string[]) =>
  inNs(ns, 'dig', '@127.0.0.1', '-p', '8600', '+time=2', '+tries=2', '+short', ...args).then((o) =>
    o.trim().split('\n').filter(Boolean),
  );

beforeAll(async () => {
  lab = await NetnsLab.create(`vdns-${process.pid}`, [0, 0]);
  dir = await mkdtemp(join(tmpdir(), 'vigil-dns-stale-'));
  const config = join(dir, 'h1.json');
  await writeFile(config, JSON.stringify({ services: [{ Name: 'web', Port: 8080 }] }));
  const [ns0, ns1] = lab.hosts as [string, string];
  const [addr0, addr1] = lab.addrs as [string, string];
  agents[1] = await NetnsAgent.spawn({
    node: 'h1',
    ns: ns1,
    addr: addr1,
    extraArgs: ['--encrypt', KEY, '--config', config],
  });
  await agents[1].waitForHttp();
  agents[0] = await NetnsAgent.spawn({
    node: 'h0',
    ns: ns0,
    addr: addr0,
    extraArgs: ['--encrypt', KEY, '--join', `${addr1}:7946`],
  });
  await agents[0].waitForHttp();
}, 60_000);

afterAll(async () => {
  for (const a of agents) await a?.dispose().catch(() => {});
  await lab?.destroy();
  await rm(dir, { recursive: true, force: true });
}, 30_000);

describe('DNS stale-if-error', () => {
  it("keeps answering from its last tables while the catalog cannot reach the service's host", async () => {
    const l = lab as NetnsLab;
    const [ns0] = l.hosts as [string];
    const addr1 = l.addrs[1] as string;
    await waitFor('h0 to resolve web to h1', async () => (await dig(ns0, 'web.service.vigil')).join() === addr1);

    const connected = async () => {
      const text = await inNs(ns0, 'curl', '-sS', '--max-time', '2', 'http://127.0.0.1:7948/metrics');
      return Number(/^vigil_catalog_peers\{state="connected"\} (\d+)/m.exec(text)?.[1] ?? Number.NaN);
    };
    expect(await connected()).toBe(1);

    // Reset every catalog connection between h0 and h1, both directions, and refuse new ones.
    await inNs(ns0, 'nft', 'add', 'table', 'inet', 'vigil_dns_test');
    await inNs(ns0, 'nft', 'add chain inet vigil_dns_test out { type filter hook output priority 0 ; }');
    await inNs(ns0, 'nft', `add rule inet vigil_dns_test out ip daddr ${addr1} tcp dport 7947 reject with tcp reset`);
    await inNs(ns0, 'nft', `add rule inet vigil_dns_test out ip daddr ${addr1} tcp sport 7947 reject with tcp reset`);
    await waitFor('h0 to have no catalog connection to h1', async () => (await connected()) === 0, 30_000);
    expect(await dig(ns0, 'web.service.vigil')).toEqual([addr1]);
    // A while later (redials refused meanwhile), still cut off and still answering.
    await new Promise((r) => setTimeout(r, 5_000));

    // Gossip still says h1 is alive, the catalog cannot reach it: DNS answers from the last tables.
    const members = await agents[0]!.get<{ name: string; status: string }[]>('/v1/members');
    expect(members.find((m) => m.name === 'h1')?.status).toBe('alive');
    expect(await connected()).toBe(0);
    expect(await dig(ns0, 'web.service.vigil')).toEqual([addr1]);
    expect(await dig(ns0, 'web.service.vigil', 'SRV')).toEqual(['0 10000 8080 h1.node.vigil.']);
  }, 120_000);
});
