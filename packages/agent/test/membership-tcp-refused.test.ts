import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { encodeStream, type Message } from '@vigil/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { type Address, ipToBytes } from '../src/membership/address.ts';
import { GossipTransport } from '../src/membership/gossip-transport.ts';
import { MemoryGossipNetwork } from '../src/membership/memory-transport.ts';
import { PROFILES, suspicionTimeoutMs } from '../src/membership/profiles.ts';
import { readStreamMessage } from '../src/membership/stream-exchange.ts';
import { DEFAULT_VOTER_HEALTH, DEFAULT_VSN, type SwimEngine, type VoterHealth } from '../src/membership/swim-engine.ts';
import { runTcpPing } from '../src/membership/tcp-ping.ts';
import type { Transport } from '../src/membership/transport.ts';
import { realRuntime, VirtualRuntime } from '../src/runtime/index.ts';
import { mulberry32 } from '../src/sim/random.ts';
import { engineKnowing, learn, reachOverTcp } from './helpers/lone-engine.ts';
import { convergedCluster } from './helpers/membership-sim.ts';

// A refused TCP fallback connect is evidence of its own (issue 19): nothing listens on the
// member's gossip port, which a starved observer's own stall cannot fake. Only ECONNREFUSED
// counts; a listening peer that never answers (a stalled process: its kernel accepts) is a
// plain failure.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const timers = realRuntime().timers;
const PING: Message & { type: 'ping' } = { type: 'ping', seqNo: 7, node: 'peer' };

async function transport(): Promise<GossipTransport> {
  const t = await GossipTransport.bind(
    { host: '127.0.0.1', port: 0 },
    { packet: () => {}, stream: (s) => s.destroy() },
    timers,
  );
  cleanups.push(() => t.close());
  return t;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

/** The service's exchange: dial, send the ping, read one reply, within `timeoutMs`. */
function exchange(t: GossipTransport, port: number, timeoutMs: number): () => Promise<Message> {
  return async () => {
    const socket = await t.dial({ host: '127.0.0.1', port }, timeoutMs);
    try {
      socket.write(encodeStream(PING, { writeLabelHeader: false, compress: false }));
      return await readStreamMessage(socket, { readLabelHeader: false }, timeoutMs, timers);
    } finally {
      socket.destroy();
    }
  };
}

describe('the TCP fallback ping result', () => {
  it('is "refused" when nothing listens on the port (a real RST on 127.0.0.1)', async () => {
    const t = await transport();
    // A port that was just free: bound, then closed, so the kernel resets connects to it.
    const probe = createServer();
    const port = await listen(probe);
    await new Promise((r) => probe.close(r));
    expect(await runTcpPing(exchange(t, port, 5000), PING.seqNo)).toBe('refused');
  });

  it('is "refused" even when our loop stalled past the dial deadline (the I/O is read first)', async () => {
    const t = await transport();
    const probe = createServer();
    const port = await listen(probe);
    await new Promise((r) => probe.close(r));
    // From the check phase, the loop's next stop is the timers phase, then I/O: a 1 ms deadline
    // that a 20 ms stall overran would win unless the dial lets the I/O be read first.
    await new Promise((r) => setImmediate(r));
    const result = runTcpPing(exchange(t, port, 1), PING.seqNo);
    const until = performance.now() + 20;
    while (performance.now() < until) {
      // a synchronous stall
    }
    expect(await result).toBe('refused');
  });

  it('is "failed", not "refused", when a listener accepts but never answers', async () => {
    const t = await transport();
    const sockets = new Set<Socket>();
    let accepted = 0;
    // A stalled process: its kernel completes the handshake; nobody reads or replies.
    const silent = createServer((s) => {
      accepted++;
      sockets.add(s);
    });
    const port = await listen(silent);
    cleanups.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    });
    expect(await runTcpPing(exchange(t, port, 300), PING.seqNo)).toBe('failed');
    expect(accepted).toBe(1);
  });

  it('is "ack" when the peer answers the ping', async () => {
    const t = await transport();
    const sockets = new Set<Socket>();
    const answering = createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
      void readStreamMessage(s, { readLabelHeader: false }, 5000, timers).then(
        (m) =>
          s.end(
            encodeStream(
              { type: 'ack', seqNo: m.type === 'ping' ? m.seqNo : 0, payload: new Uint8Array(0) },
              { writeLabelHeader: false, compress: false },
            ),
          ),
        () => s.destroy(),
      );
    });
    const port = await listen(answering);
    cleanups.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => answering.close(r));
    });
    expect(await runTcpPing(exchange(t, port, 5000), PING.seqNo)).toBe('ack');
  });
});

describe('the in-memory network (node-sim)', () => {
  /** Runs a dial on virtual time until it settles: the TCP ping's result, from the dial alone. */
  async function dialResult(rt: VirtualRuntime, from: Transport, to: Address) {
    let result: string | undefined;
    void runTcpPing(async () => {
      (await from.dial(to, 1000)).destroy();
      return { type: 'ack', seqNo: PING.seqNo, payload: new Uint8Array(0) };
    }, PING.seqNo).then((r) => {
      result = r;
    });
    for (let i = 0; i < 200 && result === undefined; i++) {
      rt.advance(10);
      await new Promise((r) => setImmediate(r));
    }
    return result;
  }

  it('refuses a dial to a closed endpoint (a crashed node), times out across a partition', async () => {
    const rt = new VirtualRuntime(1);
    const net = new MemoryGossipNetwork({ runtime: rt });
    const handlers = { packet: () => {}, stream: (s: Duplex) => s.destroy() };
    const a = await net.bind({ host: '10.0.0.1', port: 7946 }, handlers, rt.timers);
    const b = await net.bind({ host: '10.0.0.2', port: 7946 }, handlers, rt.timers);
    const c = await net.bind({ host: '10.0.0.3', port: 7946 }, handlers, rt.timers);
    expect(await dialResult(rt, a, b.address)).toBe('ack');
    await b.close();
    expect(await dialResult(rt, a, b.address)).toBe('refused');
    net.partition([[a.address], [c.address]]);
    expect(await dialResult(rt, a, c.address)).toBe('failed');
    await a.close();
    await c.close();
  });
});

const STALL_EVERY_MS = 500;

describe('a refused connect in the engine (simulator)', () => {
  /**
   * Two nodes; the observer has just stalled (so it may not vote for 2 s, and Lifeguard stretches
   * its probe interval) and probes the other, which has crashed (its port refuses) or is cut off
   * (connects time out). When the observer suspects it, in virtual ms after the probe began.
   */
  function suspectedAfter(fault: 'crash' | 'partition', rule: VoterHealth): number {
    const { sim, names } = convergedCluster(2, { seed: 5, engine: { tcpPing: true, voterHealth: rule } });
    const [observer, victim] = names as [string, string];
    if (fault === 'crash') sim.crash(victim);
    else sim.partition([[observer], [victim]]);
    let suspectedAt = Number.POSITIVE_INFINITY;
    sim.onEvent((e) => {
      if (e.observer === observer && e.member.name === victim && e.type === 'suspect') suspectedAt = e.at;
    });
    const start = sim.now;
    sim.actWhenRunning(observer, (e, now) => expect(e.probeNow(victim, now)).toBe(true));
    // The observer's loop keeps stalling (each stall over half a probe timeout), as on a starved host.
    for (let t = 0; t < 10_000; t += STALL_EVERY_MS) {
      sim.actWhenRunning(observer, (e, now) => e.noteStall(STALL_EVERY_MS, now));
      sim.run(STALL_EVERY_MS);
    }
    return suspectedAt - start;
  }

  it('lets a starved observer accuse a crashed member after its first probe', () => {
    // No later than the stretched probe's end, before the 4 s of silence (unfitSilenceMs).
    expect(suspectedAfter('crash', DEFAULT_VOTER_HEALTH)).toBeLessThan(DEFAULT_VOTER_HEALTH.unfitSilenceMs!);
  });

  it('does not when the connect timed out, or when refusals are no evidence', () => {
    const silence = DEFAULT_VOTER_HEALTH.unfitSilenceMs!;
    expect(suspectedAfter('partition', DEFAULT_VOTER_HEALTH)).toBeGreaterThanOrEqual(silence);
    expect(suspectedAfter('crash', { ...DEFAULT_VOTER_HEALTH, refusedVotes: false })).toBeGreaterThanOrEqual(silence);
  });

  it('accuses a crashed member one round trip after a catalog hint, not a probe timeout later', () => {
    // The crash suspected by a starved observer that probes out of turn (the catalog's hint).
    const timeout = PROFILES.lan.probeTimeoutMs;
    expect(suspectedAfter('crash', DEFAULT_VOTER_HEALTH)).toBeLessThan(timeout);
    expect(suspectedAfter('crash', { ...DEFAULT_VOTER_HEALTH, dialAtOnce: false })).toBeGreaterThanOrEqual(timeout);
  });
});

/**
 * Engine `a` at time 0 that knows one live member, `b` (vsn with the TCP fallback); `proven`: b's
 * port has taken our TCP (a push/pull at 0-10 ms), so its refusals count.
 */
function lonePeerEngine(voterHealth: VoterHealth, proven = true): SwimEngine {
  const engine = engineKnowing([{ name: 'b', host: '10.0.0.2' }], voterHealth);
  if (proven) reachOverTcp(engine, ['10.0.0.2'], 0);
  return engine;
}

describe('the TCP fallback in the probe', () => {
  it('waits for the TCP result when a stall ran the probe timeout and the interval together', () => {
    const engine = lonePeerEngine({ ...DEFAULT_VOTER_HEALTH, dialAtOnce: false });
    expect(engine.probeNow('b', 10)).toBe(true);
    expect(engine.drainOutputs().some((o) => o.kind === 'tcpPing')).toBe(false);
    // A 2 s stall: both of the probe's timers are overdue and run in one turn (after the backlog turn).
    engine.handleTimeout(2100);
    engine.handleTimeout(2100);
    const tcp = engine.drainOutputs().find((o) => o.kind === 'tcpPing');
    expect(tcp?.kind).toBe('tcpPing');
    expect(engine.drainEvents().filter((e) => e.type === 'suspect')).toEqual([]);
    // The dial's refusal, read after the interval's end, still decides the probe: a vote from anyone.
    engine.handleTcpPingResult(tcp?.kind === 'tcpPing' ? tcp.ping.seqNo : -1, 'refused', 2101);
    expect(
      engine
        .drainEvents()
        .filter((e) => e.type === 'suspect')
        .map((e) => e.member.name),
    ).toEqual(['b']);
  });

  it('lets an early TCP ack wait for the UDP ack, which settles the probe (no "UDP failed" fallback)', () => {
    const engine = lonePeerEngine(DEFAULT_VOTER_HEALTH);
    const probeOf = (now: number) => {
      expect(engine.probeNow('b', now)).toBe(true);
      const outs = engine.drainOutputs();
      const tcp = outs.find((o) => o.kind === 'tcpPing');
      expect(tcp, 'the TCP ping goes out with the UDP ping').toBeDefined();
      return tcp?.kind === 'tcpPing' ? tcp.ping.seqNo : -1;
    };
    // The TCP ack comes first; the UDP ack then settles the probe: no fallback to report. (A TCP
    // ack with UDP silent counts at the probe timeout: the sim's restart and starvation tables.)
    const first = probeOf(10);
    expect(engine.handleTcpPingResult(first, 'ack', 12)).toBe(false);
    engine.handlePacket(
      { host: '10.0.0.2', port: 7946 },
      [{ type: 'ack', seqNo: first, payload: new Uint8Array(0) }],
      15,
    );
    expect(engine.member('b')?.status).toBe('alive');
    // Settled: the UDP ack was the one that counted, so a late TCP result finds nothing pending.
    expect(engine.handleTcpPingResult(first, 'ack', 20)).toBe(false);
    expect(engine.drainEvents().filter((e) => e.type === 'suspect')).toEqual([]);
  });

  it('times the suspicion of a refused connect from the dial, not from a stalled loop reading it', () => {
    // The hint's probe dials at 10 ms; the loop stalls and reads the refusal at 1010 ms. Nobody
    // confirms, so the suspicion runs to its (long) lone timeout and is rechecked, then dead.
    const deadAt = (rule: VoterHealth) => {
      const peers = Array.from({ length: 12 }, (_, i) => ({ name: `p${i}`, host: `10.0.1.${i + 1}` }));
      const engine = engineKnowing(peers, rule);
      reachOverTcp(engine, ['10.0.1.1'], 0);
      expect(engine.probeNow('p0', 10)).toBe(true);
      const tcp = engine.drainOutputs().find((o) => o.kind === 'tcpPing');
      engine.handleTcpPingResult(tcp?.kind === 'tcpPing' ? tcp.ping.seqNo : -1, 'refused', 1010);
      expect(engine.member('p0')?.status).toBe('suspect');
      for (let t = 1020; t <= 120_000; t += 10) {
        engine.handleTimeout(t);
        if (engine.member('p0')?.status === 'dead') return t;
      }
      return Number.POSITIVE_INFINITY;
    };
    const fromRead = deadAt({ ...DEFAULT_VOTER_HEALTH, refusalFromDial: false });
    expect(fromRead).toBeLessThan(Number.POSITIVE_INFINITY);
    expect(deadAt(DEFAULT_VOTER_HEALTH)).toBe(fromRead - 1000);
  });
});

describe('a confirmed suspicion backed by our own refused connect (rule 6)', () => {
  const peers = Array.from({ length: 12 }, (_, i) => ({ name: `p${i}`, host: `10.0.1.${i + 1}` }));
  const from = (i: number) => ({ host: `10.0.1.${i + 1}`, port: 7946 });
  const accusation = (by: string) => ({ type: 'suspect' as const, incarnation: 1, node: 'p0', from: by });
  /** memberlist's minimum suspicion for this cluster (13 members): 4 x log10(13) x 1 s = 4.46 s. */
  const MIN_MS = suspicionTimeoutMs(PROFILES.lan.suspicionMult, 13, PROFILES.lan.probeIntervalMs);
  const REFUSAL_MS = PROFILES.lan.suspicionMult * PROFILES.lan.probeIntervalMs;

  /** Runs the engine's timers from `t` until p0 is dead; returns when. */
  function deadFrom(engine: SwimEngine, t: number): number {
    for (; t <= 120_000; t += 10) {
      engine.handleTimeout(t);
      if (engine.member('p0')?.status === 'dead') return t;
    }
    return Number.POSITIVE_INFINITY;
  }

  /** Our hint's probe of p0 (whose port took our TCP) dials at `dialAt`; `meanwhile` runs; its refusal is read at `readAt`. */
  function refusedProbe(engine: SwimEngine, dialAt: number, readAt: number, meanwhile = () => {}): void {
    reachOverTcp(engine, ['10.0.1.1'], 0);
    expect(engine.probeNow('p0', dialAt)).toBe(true);
    const tcp = engine.drainOutputs().find((o) => o.kind === 'tcpPing');
    meanwhile();
    engine.handleTcpPingResult(tcp?.kind === 'tcpPing' ? tcp.ping.seqNo : -1, 'refused', readAt);
  }

  it('ends one suspicion multiplier of probe intervals after the dial, once another observer confirms', () => {
    const dead = (rule: VoterHealth) => {
      const engine = engineKnowing(peers, rule);
      refusedProbe(engine, 10, 1010);
      engine.handlePacket(from(1), [accusation('p1')], 1500);
      expect(engine.member('p0')?.confirmedSuspect).toBe(true);
      return deadFrom(engine, 1510);
    };
    expect(dead(DEFAULT_VOTER_HEALTH)).toBe(10 + REFUSAL_MS);
    // Without the rule: Lifeguard's timeout for one confirmation, from the dial (about 12.7 s).
    expect(dead({ ...DEFAULT_VOTER_HEALTH, refusalSuspicion: false })).toBeGreaterThan(10 + 2 * MIN_MS);
  });

  it('counts when our refusal confirms someone else’s accusation', () => {
    const engine = engineKnowing(peers, DEFAULT_VOTER_HEALTH);
    refusedProbe(engine, 200, 700, () => engine.handlePacket(from(1), [accusation('p1')], 300));
    expect(engine.member('p0')?.confirmedSuspect).toBe(true);
    expect(deadFrom(engine, 710)).toBe(200 + REFUSAL_MS);
  });

  it('leaves alone a suspicion nobody confirms, and one that no refusal of ours backs', () => {
    // A lone refusal: Lifeguard's longest timeout and the rechecks, as before.
    const lone = engineKnowing(peers, DEFAULT_VOTER_HEALTH);
    refusedProbe(lone, 10, 20);
    expect(deadFrom(lone, 30)).toBeGreaterThan(10 + PROFILES.lan.suspicionMaxTimeoutMult * MIN_MS);
    // Two accusers on silence alone (maybe starved, maybe the member is): memberlist's timing.
    const silent = engineKnowing(peers, DEFAULT_VOTER_HEALTH);
    silent.handlePacket(from(1), [accusation('p1')], 100);
    silent.handlePacket(from(2), [accusation('p2')], 200);
    silent.handlePacket(from(3), [accusation('p3')], 300);
    expect(deadFrom(silent, 310)).toBeGreaterThanOrEqual(100 + MIN_MS);
  });
});

describe('a connect on every accusation (rule 8)', () => {
  const peers = Array.from({ length: 12 }, (_, i) => ({ name: `p${i}`, host: `10.0.1.${i + 1}` }));
  const from = (i: number) => ({ host: `10.0.1.${i + 1}`, port: 7946 });
  const accusation = (node: string, by: string) => ({ type: 'suspect' as const, incarnation: 1, node, from: by });
  const dialsTo = (engine: SwimEngine, i: number) =>
    engine.drainOutputs().flatMap((o) => (o.kind === 'tcpPing' && o.to.host === from(i).host ? [o.ping.seqNo] : []));

  /**
   * An engine that has push/pulled with p3 and p4 (their ports took our TCP). It is no chosen
   * prober of p3, p4 or p5 (the ranking is a fixed hash), so no probe of its own dials them.
   */
  function engineThatReached(rule: VoterHealth): SwimEngine {
    const engine = engineKnowing(peers, rule);
    reachOverTcp(engine, [from(3).host, from(4).host], 10);
    return engine;
  }

  it('votes on its own refused connect, once per accusation, and tells the confirmation', () => {
    const engine = engineThatReached(DEFAULT_VOTER_HEALTH);
    engine.handlePacket(from(1), [accusation('p3', 'p1')], 100);
    const [seqNo, ...more] = dialsTo(engine, 3);
    expect(seqNo).toBeDefined();
    expect(more).toEqual([]);
    expect(engine.member('p3')?.confirmations).toBe(1);
    // Our loop may not vote yet (it started 0.1 s ago): the refusal counts anyway.
    engine.handleTcpPingResult(seqNo!, 'refused', 150);
    expect(engine.member('p3')?.confirmedSuspect).toBe(true);
    expect(engine.drainOutputs().filter((o) => o.kind === 'packet').length).toBeGreaterThan(0);
    // A second accuser: no second connect.
    engine.handlePacket(from(2), [accusation('p3', 'p2')], 200);
    expect(dialsTo(engine, 3)).toEqual([]);
  });

  it('counts nothing but a refusal, and dials only an address that took our TCP before', () => {
    // p5 never took a TCP exchange of ours (a firewall may reject it): no connect, no vote.
    const unproven = engineThatReached(DEFAULT_VOTER_HEALTH);
    unproven.handlePacket(from(1), [accusation('p5', 'p1')], 100);
    expect(dialsTo(unproven, 5)).toEqual([]);
    // p4 is alive: its kernel accepts and it answers. One accuser stays one.
    const engine = engineThatReached(DEFAULT_VOTER_HEALTH);
    engine.handlePacket(from(1), [accusation('p4', 'p1')], 100);
    const [seqNo] = dialsTo(engine, 4);
    engine.handleTcpPingResult(seqNo!, 'ack', 110);
    expect(engine.member('p4')?.confirmations).toBe(1);
    // The rule off: no connect at all.
    const off = engineThatReached({ ...DEFAULT_VOTER_HEALTH, connectOnAccusation: false });
    off.handlePacket(from(1), [accusation('p3', 'p1')], 100);
    expect(dialsTo(off, 3)).toEqual([]);
  });
});

describe('a refusal from a port that rejects us while its member lives (a firewall)', () => {
  const B = { host: '10.0.0.2', port: 7946 };
  const tcpPings = (engine: SwimEngine) =>
    engine.drainOutputs().flatMap((o) => (o.kind === 'tcpPing' && o.to.host === B.host ? [o.ping.seqNo] : []));
  const ack = (seqNo: number) => [{ type: 'ack' as const, seqNo, payload: new Uint8Array(0) }];
  const suspects = (engine: SwimEngine) => engine.drainEvents().filter((e) => e.type === 'suspect');
  /** Runs the timers due by `now`: twice, since a late one first lets the loop read its backlog. */
  const runTimers = (engine: SwimEngine, now: number) => {
    engine.handleTimeout(now);
    engine.handleTimeout(now);
  };
  /**
   * Runs the timers due by `now` and acks their UDP probes: the hosts they dialled over TCP, and of
   * those the proofs (TCP pings of their own, not a probe's TCP fallback, which carries its seqNo).
   */
  const tickAcked = (engine: SwimEngine, now: number): { dialled: string[]; proofs: string[] } => {
    runTimers(engine, now);
    const outputs = engine.drainOutputs();
    const probes = new Set<number>();
    for (const o of outputs)
      if (o.kind === 'packet')
        for (const m of o.messages)
          if (m.type === 'ping') {
            probes.add(m.seqNo);
            engine.handlePacket(o.to, ack(m.seqNo), now + 1);
          }
    engine.drainOutputs();
    const pings = outputs.flatMap((o) => (o.kind === 'tcpPing' ? [o] : []));
    return {
      dialled: pings.map((o) => o.to.host),
      proofs: pings.filter((o) => !probes.has(o.ping.seqNo)).map((o) => o.to.host),
    };
  };
  /** A catalog hint's probe of b dials at once; the firewall's refusal comes at 11 ms, before any UDP ack. */
  const hintRefused = (engine: SwimEngine, at = 10) => {
    expect(engine.probeNow('b', at)).toBe(true);
    const [seqNo] = tcpPings(engine);
    expect(seqNo, 'the hint dials at once').toBeDefined();
    engine.handleTcpPingResult(seqNo!, 'refused', at + 1);
    return seqNo!;
  };
  const OLD_RULE: VoterHealth = { ...DEFAULT_VOTER_HEALTH, learnsRejection: false, proofDial: false };

  it('waits for the UDP ack, which settles the probe and marks the port as rejecting', () => {
    const hinted = (voterHealth: VoterHealth) => {
      const engine = lonePeerEngine(voterHealth, false);
      const seqNo = hintRefused(engine);
      engine.handlePacket(B, ack(seqNo), 14);
      return { suspected: suspects(engine).length, port: engine.tcpPort('b') };
    };
    expect(hinted(DEFAULT_VOTER_HEALTH)).toEqual({ suspected: 0, port: 'rejects' });
    // Before: the refusal ended the probe at once and accused a live member.
    expect(hinted(OLD_RULE)).toEqual({ suspected: 1, port: 'unknown' });
  });

  it('learns the rejection from a refusal that comes after the UDP ack, too', () => {
    const engine = lonePeerEngine(DEFAULT_VOTER_HEALTH, false);
    expect(engine.probeNow('b', 10)).toBe(true);
    const [seqNo] = tcpPings(engine);
    engine.handlePacket(B, ack(seqNo!), 11);
    expect(engine.tcpPort('b')).toBe('unknown');
    engine.handleTcpPingResult(seqNo!, 'refused', 12);
    expect(engine.tcpPort('b')).toBe('rejects');
    expect(suspects(engine)).toEqual([]);
  });

  it('counts at the UDP timeout when no ack came: a crash is accused half a second later', () => {
    const engine = lonePeerEngine(DEFAULT_VOTER_HEALTH, false);
    hintRefused(engine);
    runTimers(engine, 400);
    expect(suspects(engine)).toEqual([]);
    runTimers(engine, PROFILES.lan.probeTimeoutMs + 10);
    expect(suspects(engine).map((e) => e.member.name)).toEqual(['b']);
    expect(engine.tcpPort('b')).toBe('unknown');
  });

  it('counts for nothing once the port is known to reject, even from a member that stalls', () => {
    const engine = lonePeerEngine({ ...DEFAULT_VOTER_HEALTH, dialAtOnce: false }, false);
    engine.handlePacket(B, ack(hintRefused(engine)), 14);
    expect(engine.tcpPort('b')).toBe('rejects');
    // b stalls: no UDP ack; the fallback dials at the probe timeout and is refused again.
    expect(engine.probeNow('b', 3000)).toBe(true);
    expect(tcpPings(engine), 'no proof dial twice').toEqual([]);
    runTimers(engine, 3500);
    const [fallback] = tcpPings(engine);
    expect(fallback, 'the fallback dials at the probe timeout').toBeDefined();
    engine.handleTcpPingResult(fallback!, 'refused', 3501);
    runTimers(engine, 4000);
    // Our engine started 4 s ago and has not stalled: a voter, whose failed probe (UDP, indirect,
    // TCP all silent) accuses as memberlist does, but not at the refusal and not on it.
    const [s] = suspects(engine);
    expect(s?.at ?? Number.POSITIVE_INFINITY).toBeGreaterThanOrEqual(4000);
  });

  it('is proven by one dial with the first probe; a refusal after that counts at once', () => {
    const engine = lonePeerEngine({ ...DEFAULT_VOTER_HEALTH, dialAtOnce: false }, false);
    // The first probe dials with its ping, whatever dialAtOnce says; b's kernel accepts.
    expect(engine.probeNow('b', 10)).toBe(true);
    const [proof] = tcpPings(engine);
    expect(proof).toBeDefined();
    engine.handleTcpPingResult(proof!, 'ack', 11);
    engine.handlePacket(B, ack(proof!), 12);
    expect(engine.tcpPort('b')).toBe('reached');
    // The next probe dials only after the probe timeout, as memberlist; b has crashed since.
    expect(engine.probeNow('b', 2000)).toBe(true);
    expect(tcpPings(engine)).toEqual([]);
    runTimers(engine, 2500);
    const [fallback] = tcpPings(engine);
    expect(fallback).toBeDefined();
    engine.handleTcpPingResult(fallback!, 'refused', 2501);
    expect(suspects(engine).map((e) => e.member.name)).toEqual(['b']);
  });

  it('is proven by a connect its kernel took even when the ack came too late (a starved member)', () => {
    // Without the connect taken (a timeout, no route) nothing is proven, and a later probe dials again.
    for (const connected of [true, false]) {
      const engine = lonePeerEngine({ ...DEFAULT_VOTER_HEALTH, dialAtOnce: false }, false);
      expect(engine.probeNow('b', 10)).toBe(true);
      const [proof] = tcpPings(engine);
      engine.handlePacket(B, ack(proof!), 12);
      // No TCP ack by the deadline: a firewall would have refused the connect itself.
      engine.handleTcpPingResult(proof!, 'failed', 1010, connected);
      expect(engine.tcpPort('b')).toBe(connected ? 'reached' : 'unknown');
      expect(engine.probeNow('b', 2000)).toBe(true);
      expect(tcpPings(engine), 'a timeout lets a later probe prove the port').toHaveLength(connected ? 0 : 1);
    }
  });

  it('follows a refused proof ping with a UDP check: an ack teaches, silence accuses nobody', () => {
    // A tick probes one of c and b and proves the other's port on the side: the loop waits for b's.
    const proofRefused = () => {
      const engine = engineKnowing(
        [
          { name: 'c', host: '10.0.0.3' },
          { name: 'b', host: B.host },
        ],
        DEFAULT_VOTER_HEALTH,
      );
      let proof: number | undefined;
      for (let t = 1000; proof === undefined && t <= 5000; t += 1000) {
        runTimers(engine, t);
        [proof] = tcpPings(engine);
      }
      expect(proof, 'a probe tick proves b').toBeDefined();
      engine.handleTcpPingResult(proof!, 'refused', 6000);
      const outputs = engine.drainOutputs();
      expect(
        outputs.some((o) => o.kind === 'tcpPing'),
        'no second dial',
      ).toBe(false);
      const check = outputs.flatMap((o) =>
        o.kind === 'packet' && o.to.host === B.host
          ? o.messages.flatMap((m) => (m.type === 'ping' ? [m.seqNo] : []))
          : [],
      )[0];
      expect(check, 'a UDP ping checks b').toBeDefined();
      return { engine, check: check! };
    };
    // A crash, or a firewalled member that stalls: the check's silence is no accusation.
    const silent = proofRefused().engine;
    runTimers(silent, 6000 + PROFILES.lan.probeTimeoutMs + 10);
    expect(suspects(silent)).toEqual([]);
    expect(silent.tcpPort('b')).toBe('unknown');
    const firewalled = proofRefused();
    firewalled.engine.handlePacket(B, ack(firewalled.check), 6002);
    expect(firewalled.engine.tcpPort('b')).toBe('rejects');
  });

  it('proves 4 ports per probe interval of real time, up to 16 at once, however late the ticks run', () => {
    const peers = Array.from({ length: 60 }, (_, i) => ({ name: `p${i}`, host: `10.0.1.${i + 1}` }));
    const engine = engineKnowing(peers, DEFAULT_VOTER_HEALTH);
    const tick = (now: number) => tickAcked(engine, now).proofs.length;
    expect(tick(1000)).toBe(4);
    expect(tick(4000), 'three intervals since the last tick').toBe(12);
    expect(tick(14_000), 'ten intervals: capped').toBe(16);
  });

  it('proves a newcomer within a second while Lifeguard stretches the probe ticks', () => {
    const peers = Array.from({ length: 60 }, (_, i) => ({ name: `p${i}`, host: `10.0.1.${i + 1}` }));
    const engine = engineKnowing(peers, DEFAULT_VOTER_HEALTH);
    // A starved start-up: our own stalls raise Lifeguard's score to its top, probes 9 s apart.
    for (let i = 0; i < 8; i++) engine.noteStall(2000, 100);
    let probeTicks = 0;
    const step = (t: number) => {
      runTimers(engine, t);
      const outputs = engine.drainOutputs();
      probeTicks += outputs.filter((o) => o.kind === 'packet' && o.messages.some((m) => m.type === 'ping')).length;
      return outputs.flatMap((o) => (o.kind === 'tcpPing' ? [o.to.host] : []));
    };
    for (let t = 100; t <= 3000; t += 100) step(t);
    // A member joins (news: gossip ticks run while it is retransmitted).
    const host = '10.0.2.1';
    const alive = { type: 'alive' as const, incarnation: 1, node: 'late', addr: ipToBytes(host), port: 7946 };
    engine.handlePacket({ host, port: 7946 }, [{ ...alive, meta: new Uint8Array(0), vsn: [...DEFAULT_VSN] }], 3000);
    let provedAt: number | undefined;
    probeTicks = 0;
    for (let t = 3100; t <= 9000 && provedAt === undefined; t += 100) if (step(t).includes(host)) provedAt = t;
    expect(provedAt! - 3000, 'proved after the join (ms)').toBeLessThanOrEqual(1000);
    expect(probeTicks, 'no probe tick meanwhile: the gossip ticks proved it').toBe(0);
  });

  it('proves members in an order of its own, so the newest is not proved last by every agent', () => {
    const peers = Array.from({ length: 60 }, (_, i) => ({ name: `p${i}`, host: `10.0.1.${i + 1}` }));
    /** The tick at which one agent proves the newest member, having learnt it after the first tick. */
    const newestProvedAt = (seed: number): number => {
      const engine = engineKnowing(peers.slice(0, 1), DEFAULT_VOTER_HEALTH, undefined, mulberry32(seed));
      runTimers(engine, 1000);
      engine.drainOutputs();
      learn(engine, peers.slice(1), 1000);
      engine.drainOutputs();
      for (let tick = 1; tick <= 20; tick++) {
        const now = 1000 + tick * PROFILES.lan.probeIntervalMs;
        if (tickAcked(engine, now).dialled.includes('10.0.1.60')) return tick;
      }
      return Number.POSITIVE_INFINITY;
    };
    const ticks = Array.from({ length: 20 }, (_, seed) => newestProvedAt(seed + 1));
    // 59 ports at 4 a tick: a walk in the order members were learnt proves p59 at tick 15, on every
    // agent. In a shuffled order it is as likely early as late.
    expect(ticks.every((t) => t <= 16)).toBe(true);
    expect(ticks.filter((t) => t <= 8).length, `ticks: ${ticks}`).toBeGreaterThanOrEqual(5);
  });

  it('proves a member learnt since the last tick first, not at the end of the walk', () => {
    const peers = Array.from({ length: 61 }, (_, i) => ({ name: `p${i}`, host: `10.0.1.${i + 1}` }));
    for (let seed = 1; seed <= 20; seed++) {
      const engine = engineKnowing(peers.slice(0, 60), DEFAULT_VOTER_HEALTH, undefined, mulberry32(seed));
      tickAcked(engine, 1000);
      tickAcked(engine, 2000);
      learn(engine, peers.slice(60), 2500);
      // 8 of 60 walked so far: the walk would reach p60 only after the other 52.
      expect(tickAcked(engine, 3000).dialled, `seed ${seed}`).toContain('10.0.1.61');
    }
  });

  it('has about 64 agents of a large cluster prove a newcomer first, not all of them', () => {
    const peers = Array.from({ length: 640 }, (_, i) => ({ name: `p${i}`, host: `10.1.${i >> 8}.${i & 255}` }));
    const newcomer = peers[639]!.host;
    let first = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const engine = engineKnowing(peers.slice(0, 639), DEFAULT_VOTER_HEALTH, undefined, mulberry32(seed));
      tickAcked(engine, 1000);
      tickAcked(engine, 2000);
      learn(engine, peers.slice(639), 2500);
      if (tickAcked(engine, 3000).proofs.includes(newcomer)) first++;
    }
    // 40 agents x 64 / 640: about 4 prove it at once (the others in their walks); without the
    // gate all 40 would, and a join at N = 1,000 would meet 999 connects within a second.
    expect(first).toBeGreaterThanOrEqual(1);
    expect(first).toBeLessThanOrEqual(12);
  });

  it('forgets the rejection once the port takes our TCP (the firewall went)', () => {
    const engine = lonePeerEngine(DEFAULT_VOTER_HEALTH, false);
    engine.handlePacket(B, ack(hintRefused(engine)), 14);
    expect(engine.tcpPort('b')).toBe('rejects');
    reachOverTcp(engine, [B.host], 2000);
    expect(engine.tcpPort('b')).toBe('reached');
  });

  it('with refusalNeedsProof, counts only from a proven port', () => {
    // b stalls: no UDP ack, so the probe fails at its interval's end. We started 0.3 s ago and
    // may not vote: a failure without a counted refusal only starts rule 3's silence.
    const strict: VoterHealth = { ...OLD_RULE, refusalNeedsProof: true, dialAtOnce: false };
    const engine = lonePeerEngine(strict, false);
    expect(engine.probeNow('b', 300)).toBe(true);
    expect(tcpPings(engine)).toEqual([]);
    runTimers(engine, 800);
    const [seqNo] = tcpPings(engine);
    expect(seqNo, 'the fallback dials at the probe timeout').toBeDefined();
    engine.handleTcpPingResult(seqNo!, 'refused', 801);
    runTimers(engine, 1300);
    expect(suspects(engine)).toEqual([]);
    expect(engine.member('b')?.status).toBe('alive');
  });
});
