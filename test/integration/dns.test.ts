import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, disposeAllAgents } from './harness/agent-process.ts';
import { freePort } from './harness/free-port.ts';
import { waitFor } from './harness/wait-for.ts';

// The DNS interface against real clients: Debian's dig (dnsutils), Node's c-ares resolver, and
// dnsmasq forwarding the zone to the agent as Consul's documentation recommends.

const exec = promisify(execFile);

let a: AgentProcess;
let b: AgentProcess;
const children: ChildProcess[] = [];

async function register(agent: AgentProcess, body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${agent.url}/v1/agent/service/register`, { method: 'PUT', body: JSON.stringify(body) });
  expect(res.status, await res.text()).toBe(200);
}

async function checkTtl(agent: AgentProcess, id: string, verdict: 'pass' | 'fail'): Promise<void> {
  const res = await fetch(`${agent.url}/v1/agent/check/${verdict}/${id}`, { method: 'PUT' });
  expect(res.status).toBe(200);
}

async function dig(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await exec('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=2', ...args]);
  return stdout;
}

/** dig +short lines, sorted where order does not matter. */
async function short(port: number, ...args: string[]): Promise<string[]> {
  return (await dig(port, '+short', ...args)).trim().split('\n').filter(Boolean);
}

const status = (out: string) => /status: (\w+)/.exec(out)?.[1];
const flags = (out: string) => /flags: ([a-z ]+);/.exec(out)?.[1]?.trim().split(' ') ?? [];

beforeAll(async () => {
  // No failback hold-down: a recovered primary takes traffic back at once.
  const common = ['--failback-hold-down', '0s'];
  a = await AgentProcess.start({ node: 'a', extraArgs: [...common, '--dns-ttl', '7s'] });
  b = await AgentProcess.start({ node: 'b', extraArgs: [...common, '--join', `127.0.0.1:${a.gossipPort}`] });
  await register(a, {
    Name: 'web',
    ID: 'web-a',
    Port: 8001,
    Priority: 0,
    Weight: 3,
    Tags: ['v2'],
    Check: { TTL: '1h', Status: 'passing', CheckID: 'web-a-ttl' },
  });
  await register(b, { Name: 'web', ID: 'web-b', Address: '127.0.0.12', Port: 8002, Priority: 1 });
  // 40 instances on distinct addresses: more A records than fit in 512 bytes.
  for (let i = 1; i <= 40; i++) {
    await register(a, { Name: 'many', ID: `many-${i}`, Address: `127.0.1.${i}`, Port: 9000 + i });
  }
  await register(a, { Name: 'down', Port: 7000, Check: { TTL: '1h', Status: 'critical' } });
  type Table = { endpoints?: { node: string; state: string }[] };
  await waitFor('both agents to route web to a, and many over 40 endpoints', async () => {
    for (const agent of [a, b]) {
      const web = (await agent.get<Table>('/v1/routes/web')).body;
      const many = (await agent.get<Table>('/v1/routes/many')).body;
      const active = web.endpoints?.filter((e) => e.state === 'active').map((e) => e.node);
      if (web.endpoints?.length !== 2 || active?.join() !== 'a' || many.endpoints?.length !== 40) return false;
    }
    return true;
  });
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  await disposeAllAgents();
});

describe('DNS with dig', () => {
  it('answers A with the active endpoint, authoritative, no recursion, the configured TTL', async () => {
    const out = await dig(a.dnsPort, 'web.service.vigil', 'A');
    expect(status(out)).toBe('NOERROR');
    expect(flags(out)).toContain('aa');
    expect(flags(out)).not.toContain('ra');
    expect(out).toMatch(/^web\.service\.vigil\.\s+7\s+IN\s+A\s+127\.0\.0\.1$/m);
    expect(await short(a.dnsPort, 'v2.web.service.vigil')).toEqual(['127.0.0.1']);
  });

  it('answers SRV with priority = tier and weight = share, node targets and glue', async () => {
    const out = await dig(b.dnsPort, 'web.service.vigil', 'SRV');
    expect(out).toMatch(/web\.service\.vigil\.\s+0\s+IN\s+SRV\s+0 10000 8001 a\.node\.vigil\./);
    expect(out).toMatch(/web\.service\.vigil\.\s+0\s+IN\s+SRV\s+1 0 8002 7f00000c\.addr\.vigil\./);
    expect(out).toMatch(/;; ADDITIONAL SECTION:[\s\S]*a\.node\.vigil\.\s+0\s+IN\s+A\s+127\.0\.0\.1/);
    expect(out).toMatch(/7f00000c\.addr\.vigil\.\s+0\s+IN\s+A\s+127\.0\.0\.12/);
    expect(await short(b.dnsPort, 'b.node.vigil')).toEqual(['127.0.0.1']);
  });

  it('NXDOMAIN for unknown names, NODATA with the SOA for a service with nothing healthy', async () => {
    const nx = await dig(a.dnsPort, 'nope.service.vigil');
    expect(status(nx)).toBe('NXDOMAIN');
    expect(nx).toMatch(/AUTHORITY SECTION:\s+vigil\.\s+7\s+IN\s+SOA\s+ns\.vigil\. hostmaster\.vigil\./);
    const down = await dig(a.dnsPort, 'down.service.vigil');
    expect(status(down)).toBe('NOERROR');
    expect(down).toMatch(/ANSWER: 0, AUTHORITY: 1/);
    expect(status(await dig(a.dnsPort, 'ghost.node.vigil'))).toBe('NXDOMAIN');
  });

  it('refuses names outside its zone: it is no recursor', async () => {
    const out = await dig(a.dnsPort, 'example.com');
    expect(status(out)).toBe('REFUSED');
    expect(flags(out)).not.toContain('ra');
  });

  it('truncates over UDP and dig gets the whole answer over TCP', async () => {
    const out = await dig(a.dnsPort, '+noedns', '+ignore', 'many.service.vigil');
    expect(flags(out)).toContain('tc');
    const retried = await dig(a.dnsPort, '+noedns', 'many.service.vigil');
    expect(retried).toMatch(/Truncated, retrying in TCP mode/);
    expect(retried).toMatch(/ANSWER: 40,/);
    const tcp = await dig(a.dnsPort, '+tcp', 'many.service.vigil');
    expect(tcp).toMatch(/ANSWER: 40,/);
    // With EDNS0 (dig advertises 1232 bytes) all 40 fit in one datagram.
    expect(await dig(a.dnsPort, '+bufsize=1232', 'many.service.vigil')).toMatch(/ANSWER: 40,[\s\S]*udp: 4096/);
  });

  it("a failing check moves the answer to the backup tier's endpoint", async () => {
    await checkTtl(a, 'web-a-ttl', 'fail');
    await waitFor('web to resolve to the backup', async () => {
      const lines = await short(a.dnsPort, 'web.service.vigil');
      return lines.length === 1 && lines[0] === '127.0.0.12';
    });
    // The same change in /metrics: the check's status, and web down to N+0 (only the backup left).
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toMatch(/^vigil_check_status\{check="web-a-ttl",service="web-a",status="critical"\} 1$/m);
    expect(metrics).toMatch(/^vigil_route_redundancy\{service="web"\} 0$/m);
    expect(metrics).toMatch(/^vigil_route_endpoints\{service="web",state="active"\} 1$/m);
    await checkTtl(a, 'web-a-ttl', 'pass');
  });
});

describe('DNS with other clients', () => {
  it("Node's resolver reads A, SRV, NXDOMAIN and NODATA", async () => {
    const resolver = new Resolver({ timeout: 2000, tries: 2 });
    resolver.setServers([`127.0.0.1:${a.dnsPort}`]);
    await waitFor(
      'web back on its primary',
      async () => (await resolver.resolve4('web.service.vigil'))[0] === '127.0.0.1',
    );
    const srv = await resolver.resolveSrv('web.service.vigil');
    expect(srv.map((r) => [r.priority, r.weight, r.port, r.name])).toEqual([
      [0, 10000, 8001, 'a.node.vigil'],
      [1, 0, 8002, '7f00000c.addr.vigil'],
    ]);
    expect((await resolver.resolve4('many.service.vigil')).length).toBe(40);
    await expect(resolver.resolve4('nope.service.vigil')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolve4('down.service.vigil')).rejects.toMatchObject({ code: 'ENODATA' });
  });

  it('dnsmasq forwards the vigil zone to the agent', async () => {
    const port = await freePort();
    const child = spawn(
      'dnsmasq',
      [
        '--no-daemon',
        `--port=${port}`,
        '--listen-address=127.0.0.1',
        '--bind-interfaces',
        `--server=/vigil/127.0.0.1#${a.dnsPort}`,
        '--no-resolv',
        '--no-hosts',
        '--pid-file=',
        '--user=root',
        '--log-facility=-',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let log = '';
    child.stderr?.on('data', (d) => {
      log += d;
    });
    const lines = await waitFor(
      'dnsmasq to answer for web.service.vigil',
      async () => {
        const out = await short(port, 'web.service.vigil');
        return out.length > 0 ? out : undefined;
      },
      15_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${log}`);
    });
    expect(lines).toEqual(['127.0.0.1']);
    expect(await short(port, 'web.service.vigil', 'SRV')).toContain('0 10000 8001 a.node.vigil.');
    expect(status(await dig(port, 'nope.service.vigil'))).toBe('NXDOMAIN');
  });
});

describe('DNS under hostile input', () => {
  it('random datagrams and TCP garbage are counted and dropped; the agent keeps answering', async () => {
    const socket = createSocket('udp4');
    const seed = 16;
    let x = seed;
    const rand = () => {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      return x;
    };
    for (let i = 0; i < 2000; i++) {
      const len = rand() % 600;
      const bytes = Buffer.alloc(len);
      for (let j = 0; j < len; j++) bytes[j] = rand() & 0xff;
      // A third of them claim to be responses, which must never be answered.
      if (i % 3 === 0 && len >= 3) bytes[2] = (bytes[2] ?? 0) | 0x80;
      await new Promise<void>((resolve) => socket.send(bytes, a.dnsPort, '127.0.0.1', () => resolve()));
    }
    socket.close();
    // TCP: a frame announcing more than it sends, then close; and pure garbage.
    for (const payload of [Buffer.from([0xff, 0xff, 1, 2, 3]), Buffer.from('GET / HTTP/1.1\r\n\r\n')]) {
      await new Promise<void>((resolve) => {
        const c = connect(a.dnsPort, '127.0.0.1', () => c.end(payload));
        c.on('error', () => resolve());
        c.on('close', () => resolve());
      });
    }
    expect(await short(a.dnsPort, 'v2.web.service.vigil')).toEqual(['127.0.0.1']);
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    const dropped = [...metrics.matchAll(/^vigil_dns_dropped_total\{reason="(\w+)"\} (\d+)/gm)];
    const byReason = Object.fromEntries(dropped.map((m) => [m[1], Number(m[2])]));
    expect(byReason.response).toBeGreaterThan(0);
    expect(byReason.short).toBeGreaterThan(0);
    expect(metrics).toMatch(/vigil_dns_responses_total\{rcode="FORMERR"\} [1-9]/);
  });
});
