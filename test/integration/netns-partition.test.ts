import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disposeLab, NetnsAgent, NetnsLab } from './harness/netns.ts';
import { waitFor } from './harness/wait-for.ts';

// Real multi-host: 5 agents, each in its own network namespace with its own address, on two
// switches joined by one link. Cutting that link partitions the cluster 3|2; each side must declare
// the other dead. Bringing it back, the cluster must heal on its own (Serf-style reconnect: every
// 30 s each agent re-joins a random dead member with probability failed/alive; no manual join) and
// converge to one view. The partition is held past the gossip-to-the-dead time, so nothing but the
// reconnect can heal it. Needs root (or CAP_SYS_ADMIN + CAP_NET_ADMIN) and iproute2 and curl; without
// them this test fails with a message saying so, it never skips.

interface Member {
  name: string;
  addr: string;
  port: number;
  status: string;
  incarnation: number;
}

const SIDES = [0, 0, 0, 1, 1] as const; // h0..h2 on br0, h3..h4 on br1
const NAMES = SIDES.map((_, i) => `h${i}`);
const HEAL_BOUND_MS = 120_000;
/** Longer than the LAN profile's gossipToTheDeadMs (30 s). */
const HOLD_MS = 35_000;
const KEY = Buffer.alloc(32, 7).toString('base64');

let lab: NetnsLab | undefined;
const agents: NetnsAgent[] = [];

beforeAll(async () => {
  lab = await NetnsLab.create(`vigil-${process.pid}`, SIDES);
  const l = lab;
  const seed = `${l.addrs[0]}:7946`;
  const start = async (i: number) => {
    const agent = await NetnsAgent.spawn({
      node: NAMES[i]!,
      ns: l.hosts[i]!,
      addr: l.addrs[i]!,
      extraArgs: ['--encrypt', KEY, '--profile', 'lan', ...(i === 0 ? [] : ['--join', seed])],
    });
    // By index, not completion order: views are read and labelled by position.
    agents[i] = agent;
    await agent.waitForHttp();
  };
  // The seed first, so that the others' --join finds it listening.
  await start(0);
  await Promise.all(NAMES.slice(1).map((_, i) => start(i + 1)));
}, 60_000);

afterAll(() => disposeLab(agents, lab), 30_000);

/** Every agent's view: name -> member. */
async function views(): Promise<Map<string, Member>[]> {
  return Promise.all(agents.map(async (a) => new Map((await a.get<Member[]>('/v1/members')).map((m) => [m.name, m]))));
}

const describeViews = (vs: Map<string, Member>[]) =>
  vs
    .map((v, i) => `${NAMES[i]}: ${[...v.values()].map((m) => `${m.name}=${m.status}/${m.incarnation}`).join(' ')}`)
    .join(' | ');

function logsOnFailure(err: Error): never {
  throw new Error(`${err.message}\n${agents.map((a) => `--- ${a.node}\n${a.logs.slice(-4000)}`).join('\n')}`);
}

describe('five hosts in network namespaces', () => {
  it('partition 3|2: each side declares the other dead; after the link returns the cluster heals alone', async () => {
    const l = lab!;
    let last = '';
    const poll = async (what: string, pred: (vs: Map<string, Member>[]) => boolean, timeoutMs: number) =>
      waitFor(
        what,
        async () => {
          const vs = await views();
          last = describeViews(vs);
          return pred(vs);
        },
        timeoutMs,
        500,
      ).catch((err: Error) => logsOnFailure(new Error(`${err.message}\nlast views: ${last}`)));

    const allAlive = (vs: Map<string, Member>[]) =>
      vs.every((v) => v.size === NAMES.length && NAMES.every((n) => v.get(n)?.status === 'alive'));

    // 1. Join over the bridge: all five alive on all five.
    await poll('all 5 hosts alive on every host', allAlive, 30_000);
    const addrs = (await views())[0]!;
    for (const [i, n] of NAMES.entries()) expect(addrs.get(n)).toMatchObject({ addr: l.addrs[i], port: 7946 });

    // 2. Cut the inter-switch link: h0..h2 | h3..h4.
    await l.cut();
    const cutAt = Date.now();
    const side = (i: number) => SIDES[i];
    const partitioned = (vs: Map<string, Member>[]) =>
      vs.every((v, i) => NAMES.every((n, j) => v.get(n)?.status === (side(i) === side(j) ? 'alive' : 'dead')));
    await poll('each side to see the other side dead, and its own side alive', partitioned, 60_000);
    const detectedMs = Date.now() - cutAt;

    // Hold the partition past the LAN profile's gossip-to-the-dead time (30 s), so that nobody still
    // gossips to the other side when the link returns: only the reconnect can heal it. The split
    // must stay stable meanwhile (no flapping within a side).
    const holdUntil = Date.now() + HOLD_MS;
    while (Date.now() < holdUntil) {
      const vs = await views();
      if (!partitioned(vs)) logsOnFailure(new Error(`the partitioned views changed: ${describeViews(vs)}`));
      await new Promise((r) => setTimeout(r, 1000));
    }

    // 3. Restore the link. No join is issued: reconnect must find the dead members by itself.
    await l.heal();
    const healAt = Date.now();
    await poll(`the cluster to heal within ${HEAL_BOUND_MS / 1000} s`, allAlive, HEAL_BOUND_MS);
    const aliveMs = Date.now() - healAt;

    // 4. One view: the same members with the same addresses and incarnations on every host.
    await poll(
      'every host to hold the same view',
      (vs) => {
        if (!allAlive(vs)) return false;
        const key = (v: Map<string, Member>) =>
          NAMES.map((n) => {
            const m = v.get(n)!;
            return `${n}@${m.addr}:${m.port}#${m.incarnation}`;
          }).join(',');
        return vs.every((v) => key(v) === key(vs[0]!));
      },
      15_000,
    );
    const convergedMs = Date.now() - healAt;
    console.log(
      `netns partition 3|2: other side dead everywhere ${(detectedMs / 1000).toFixed(1)} s after the cut ` +
        `(held ${HOLD_MS / 1000} s more); ` +
        `all alive ${(aliveMs / 1000).toFixed(1)} s and one view ${(convergedMs / 1000).toFixed(1)} s after the link came back`,
    );
    expect(convergedMs).toBeLessThanOrEqual(HEAL_BOUND_MS + 15_000);
    for (const a of agents) expect(a.running).toBe(true);
  }, 180_000);
});
