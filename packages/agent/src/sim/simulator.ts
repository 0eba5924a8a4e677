import type { Message, PushNodeState, PushPull } from '@vigil/protocol';
import { type Address, addressKey, ipToBytes } from '../membership/address.ts';
import { type MembershipProfile, PROFILES } from '../membership/profiles.ts';
import {
  DEFAULT_VSN,
  type EngineConfig,
  type MembershipEvent,
  type Output,
  SwimEngine,
} from '../membership/swim-engine.ts';
import type { TcpPingResult } from '../membership/tcp-ping.ts';
import { TimerQueue } from '../membership/timer-queue.ts';
import { mulberry32 } from './random.ts';

export interface SimulatorOptions {
  readonly seed: number;
  readonly profile?: MembershipProfile;
  /** Probability that any datagram is lost. Streams (TCP) are reliable but obey partitions. */
  readonly lossRate?: number;
  /** One-way datagram delay: base plus uniform jitter, in ms. */
  readonly delayMs?: number;
  readonly jitterMs?: number;
  /** Extra engine options applied to every node (for example lifeguard: false). */
  readonly engine?: Partial<
    Pick<EngineConfig, 'collectiveConfirmation' | 'lifeguard' | 'tcpPing' | 'fastJoin' | 'voterHealth'>
  >;
  /** Every node's metadata (its size decides how many broadcasts fit in a packet). Default none. */
  readonly meta?: (name: string) => Uint8Array;
}

/**
 * CPU starvation of one node, as 50 Node processes on 2 cores produce it: its event loop stalls
 * again and again. A stall is a pause (no timers, inbound queued, then timers first and the
 * backlog after, as Node's loop runs them); stalls last stallMs (log-uniform, so short ones are
 * common and long ones rare) and come gapMs apart (uniform).
 */
export interface Starvation {
  readonly stallMs: readonly [number, number];
  readonly gapMs: readonly [number, number];
  /**
   * A start-up storm fades: this long after starve(), stalls have stopped. Meanwhile their
   * longest possible length shrinks and the gaps between them grow in proportion to the time
   * left (a node that has finished loading its code and joining stalls less). Undefined: steady.
   */
  readonly decayMs?: number;
}

/** The agent checks its event loop this often and reports the longest stall (membership-service). */
const LOOP_CHECK_MS = 1000;

export interface SimEvent extends MembershipEvent {
  /** The node whose view changed. */
  readonly observer: string;
}

interface SimNode {
  readonly name: string;
  readonly addr: Address;
  engine: SwimEngine;
  crashed: boolean;
  /** Its host's firewall rejects TCP to its gossip port (REJECT: the kernel refuses) and passes UDP. */
  rejectsTcp: boolean;
  /** Inbound processing delay, base plus uniform jitter: the Lifeguard "slow detector". */
  slowMs: number;
  slowJitterMs: number;
  /** When a slow node gets to its latest inbound message: it works through them in order. */
  inboundAt: number;
  /** Frozen (SIGSTOP) until then: no timers, inbound queued. */
  pausedUntil: number;
  /** Every freeze so far, [from, until), merged where they overlap: tests subtract them (pausedWithin). */
  readonly pauses: [number, number][];
  group: number;
  /** Set while the node is starved; each node's stalls are its own (see starve). */
  starvation: Starvation | undefined;
  /** When starve() started the current starvation (its decay counts from here). */
  starvedAt: number;
  stallTimer: number | undefined;
  loopCheckTimer: number | undefined;
  /** Longest stall since the last loop check, as LoopStallMeter's take(). */
  longestStallMs: number;
  /** Stalls over half a probe timeout, the ones the agent reports (counted for tables). */
  stalls: number;
  wakeAt: number | undefined;
  wakeTimer: number | undefined;
}

/**
 * The real SwimEngine on a virtual clock and an in-memory network that can drop, delay and
 * partition traffic, all from one seed: the same seed replays the same run. Messages are passed
 * as objects (the codec has its own tests), so thousands of nodes fit in one process.
 */
export class Simulator {
  now = 0;
  readonly events: SimEvent[] = [];
  /** Datagrams handed to the network, and how many it dropped. */
  packetsSent = 0;
  packetsDropped = 0;
  /** Membership messages in those datagrams (a compound packet carries several). */
  messagesSent = 0;
  private readonly nodes = new Map<string, SimNode>();
  private readonly byAddr = new Map<string, SimNode>();
  private readonly queue = new TimerQueue();
  private readonly random: () => number;
  private readonly options: SimulatorOptions;
  private readonly profile: MembershipProfile;
  private lossRate: number;
  private listeners: ((e: SimEvent) => void)[] = [];

  constructor(options: SimulatorOptions) {
    this.options = options;
    this.random = mulberry32(options.seed);
    this.profile = options.profile ?? PROFILES.lan;
    this.lossRate = options.lossRate ?? 0;
  }

  /** Adds and starts a node; it joins through `seed` if given. */
  addNode(name: string, seed?: string): SimNode {
    const i = this.nodes.size + this.byAddr.size + 1;
    // In-memory only: these addresses never reach a socket.
    const addr = { host: `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 7946 };
    const engine = this.newEngine(name, addr);
    const node: SimNode = {
      name,
      addr,
      engine,
      crashed: false,
      rejectsTcp: false,
      slowMs: 0,
      slowJitterMs: 0,
      inboundAt: 0,
      pausedUntil: 0,
      pauses: [],
      group: 0,
      starvation: undefined,
      starvedAt: 0,
      stallTimer: undefined,
      loopCheckTimer: undefined,
      longestStallMs: 0,
      stalls: 0,
      wakeAt: undefined,
      wakeTimer: undefined,
    };
    this.nodes.set(name, node);
    this.byAddr.set(addressKey(addr), node);
    engine.start(this.now);
    if (seed) {
      const target = this.nodes.get(seed);
      if (target) engine.join([target.addr], this.now);
    }
    this.settle(node);
    return node;
  }

  /**
   * Adds and starts nodes that already know each other: a converged cluster, without the minutes
   * of join traffic that N joins through one seed cost at N = 1,000. Every engine learns every
   * member through its own push/pull merge (preloadMembers), which emits no join events.
   */
  bootstrap(names: readonly string[]): void {
    const added = names.map((name) => this.addNode(name));
    const live = [...this.nodes.values()].filter((n) => !n.crashed);
    const states: PushNodeState[] = live.map((n) => {
      const self = n.engine.member(n.name)!;
      return {
        name: n.name,
        addr: ipToBytes(n.addr.host),
        port: n.addr.port,
        meta: self.meta,
        incarnation: self.incarnation,
        state: 0,
        vsn: DEFAULT_VSN,
      };
    });
    const targets = added.length === live.length ? added : live;
    for (const n of targets) {
      n.engine.preloadMembers(states, this.now);
      n.engine.drainEvents();
      this.settle(n);
    }
  }

  /**
   * Brings a crashed node back as a fresh process would: a new engine (new incarnation, no
   * members, no suspicions) under the same name and address, joining through the members of its
   * snapshot, that is, every node it knew when it crashed (the agent's start-up join).
   */
  restart(name: string): void {
    const n = this.node(name);
    if (!n.crashed) throw new Error(`${name} is running`);
    const snapshot = [...this.nodes.values()].filter((o) => o !== n).map((o) => o.addr);
    n.engine = this.newEngine(name, n.addr);
    n.crashed = false;
    n.inboundAt = 0;
    n.pausedUntil = 0;
    const last = n.pauses[n.pauses.length - 1];
    if (last !== undefined && last[1] > this.now) last[1] = this.now;
    n.engine.start(this.now);
    n.engine.join(snapshot, this.now);
    this.settle(n);
  }

  node(name: string): SimNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  names(): string[] {
    return [...this.nodes.keys()];
  }

  onEvent(listener: (e: SimEvent) => void): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  crash(name: string): void {
    const n = this.node(name);
    n.crashed = true;
    n.starvation = undefined;
    this.queue.cancel(n.stallTimer);
    this.queue.cancel(n.loopCheckTimer);
    n.stallTimer = undefined;
    n.loopCheckTimer = undefined;
    this.queue.cancel(n.wakeTimer);
    n.wakeAt = undefined;
  }

  /**
   * A firewall in front of the node that rejects TCP to its gossip port and passes UDP (iptables
   * REJECT, which the dialler's kernel reports as ECONNREFUSED): its push/pull streams and TCP
   * pings are refused while it lives. Its own outbound streams still work.
   */
  rejectTcp(name: string, rejects = true): void {
    this.node(name).rejectsTcp = rejects;
  }

  leave(name: string): void {
    const n = this.node(name);
    n.engine.leave(this.now);
    this.settle(n);
  }

  /**
   * Feeds one node's engine an input of the caller's choosing (a packet, a push/pull state, an
   * operator command such as forceLeave) at the current time, then delivers what comes out.
   */
  act<T>(name: string, input: (engine: SwimEngine, now: number) => T): T {
    const n = this.node(name);
    const result = input(n.engine, this.now);
    this.settle(n);
    return result;
  }

  /**
   * As act, but when the node's loop next runs: at once, or when its current stall ends. Hints
   * from outside membership (a catalog connection reset) reach a stalled agent that late.
   */
  actWhenRunning(name: string, input: (engine: SwimEngine, now: number) => void): void {
    const n = this.node(name);
    if (this.now >= n.pausedUntil) {
      this.act(name, input);
      return;
    }
    const engine = n.engine;
    this.queue.set(n.pausedUntil, () => {
      if (!n.crashed && n.engine === engine) this.act(name, input);
    });
  }

  /**
   * Freezes the node for `ms`, as SIGSTOP does: its timers wait and what it receives queues up.
   * When it resumes, its overdue timers fire first, then it reads the queued datagrams in order
   * (a Node event loop runs timers before I/O).
   */
  pause(name: string, ms: number): void {
    const n = this.node(name);
    n.pausedUntil = Math.max(n.pausedUntil, this.now + Math.round(ms));
    const last = n.pauses[n.pauses.length - 1];
    if (last !== undefined && last[1] >= this.now) last[1] = Math.max(last[1], n.pausedUntil);
    else n.pauses.push([this.now, n.pausedUntil]);
    this.queue.cancel(n.wakeTimer);
    n.wakeAt = undefined;
    n.wakeTimer = undefined;
    this.settle(n);
  }

  /** How long the node was frozen between `from` and `to` (virtual ms): time its stalls, not the protocol, took. */
  pausedWithin(name: string, from: number, to: number): number {
    let total = 0;
    for (const [a, b] of this.node(name).pauses) total += Math.max(0, Math.min(b, to) - Math.max(a, from));
    return total;
  }

  /**
   * Delays everything the node receives by `delayMs` plus up to `jitterMs` more (uniform), as if
   * its CPU were starved: it still sends on time but hears acks, nacks and refutations late, and
   * in the order they arrived (a backlog, not a reordering network). 0 makes it healthy again.
   */
  setSlow(name: string, delayMs: number, jitterMs = 0): void {
    const n = this.node(name);
    n.slowMs = delayMs;
    n.slowJitterMs = jitterMs;
  }

  /**
   * Starves the named nodes (see Starvation), or ends their starvation with `undefined`. Each node
   * also runs the agent's event-loop check: once a second (itself delayed by a stall) it reports
   * its longest recent stall to the engine, which feeds Lifeguard's local health as the agent does.
   */
  starve(names: readonly string[], starvation: Starvation | undefined): void {
    for (const name of names) {
      const n = this.node(name);
      n.starvation = starvation;
      n.starvedAt = this.now;
      this.queue.cancel(n.stallTimer);
      n.stallTimer = undefined;
      if (!starvation) continue;
      this.scheduleStall(n);
      if (n.loopCheckTimer === undefined)
        this.scheduleLoopCheck(n, this.now + Math.floor(this.random() * LOOP_CHECK_MS));
    }
  }

  /** Event-loop stalls that the nodes' loop checks reported so far (over half a probe timeout). */
  stallsReported(): number {
    let total = 0;
    for (const n of this.nodes.values()) total += n.stalls;
    return total;
  }

  private scheduleStall(n: SimNode): void {
    const s = n.starvation!;
    const strength = this.stormLeft(n);
    if (strength <= 0) {
      n.starvation = undefined;
      return;
    }
    const gap = (s.gapMs[0] + this.random() * (s.gapMs[1] - s.gapMs[0])) / strength;
    n.stallTimer = this.queue.set(Math.max(this.now, n.pausedUntil) + Math.round(gap), () => {
      n.stallTimer = undefined;
      if (!n.starvation || n.crashed) return;
      const [lo, top] = n.starvation.stallMs;
      const hi = Math.max(lo, top * this.stormLeft(n));
      const ms = Math.round(lo * (hi / lo) ** this.random());
      n.longestStallMs = Math.max(n.longestStallMs, ms);
      this.pause(n.name, ms);
      this.scheduleStall(n);
    });
  }

  /** 1 while a starvation is steady; with decayMs, the share of the storm still to come. */
  private stormLeft(n: SimNode): number {
    const decay = n.starvation?.decayMs;
    return decay === undefined ? 1 : 1 - (this.now - n.starvedAt) / decay;
  }

  private scheduleLoopCheck(n: SimNode, at: number): void {
    n.loopCheckTimer = this.queue.set(at, (t) => {
      n.loopCheckTimer = undefined;
      if (n.crashed) return;
      // A check due during a stall runs when the loop gets back to it.
      if (t < n.pausedUntil) return this.scheduleLoopCheck(n, n.pausedUntil);
      const stall = n.longestStallMs;
      n.longestStallMs = 0;
      if (stall > this.profile.probeTimeoutMs / 2) n.stalls++;
      n.engine.noteStall(stall, t);
      this.settle(n);
      if (n.starvation || n.longestStallMs > 0) this.scheduleLoopCheck(n, t + LOOP_CHECK_MS);
    });
  }

  setLossRate(rate: number): void {
    this.lossRate = rate;
  }

  /** Splits the nodes into groups that cannot reach each other; `heal()` undoes it. */
  partition(groups: readonly (readonly string[])[]): void {
    groups.forEach((g, i) => {
      for (const name of g) this.node(name).group = i + 1;
    });
  }

  heal(): void {
    for (const n of this.nodes.values()) n.group = 0;
  }

  /** Runs the virtual clock forward by `ms`. */
  run(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const next = this.queue.next();
      if (next === undefined || next > until) break;
      this.now = next;
      this.queue.runDue(next);
    }
    this.now = until;
  }

  /** Runs until `predicate` holds (checked every `stepMs`) or `maxMs` passes; returns the time taken. */
  runUntil(predicate: () => boolean, maxMs: number, stepMs = 50): number | undefined {
    const start = this.now;
    while (this.now - start < maxMs) {
      if (predicate()) return this.now - start;
      this.run(stepMs);
    }
    return predicate() ? this.now - start : undefined;
  }

  /** Whether every live node sees exactly the live nodes as alive. */
  converged(): boolean {
    const live = [...this.nodes.values()].filter((n) => !n.crashed && n.engine.member(n.name)?.status === 'alive');
    // Cheap count check first; the full N x N comparison only once the counts agree.
    if (!live.every((n) => n.engine.counts().alive === live.length && n.engine.counts().suspect === 0)) return false;
    return live.every((n) => live.every((m) => n.engine.member(m.name)?.status === 'alive'));
  }

  private newEngine(name: string, addr: Address): SwimEngine {
    return new SwimEngine(
      {
        name,
        addr,
        meta: this.options.meta?.(name) ?? new Uint8Array(0),
        profile: this.profile,
        random: mulberry32(Math.floor(this.random() * 2 ** 32)),
        tcpPing: false,
        ...this.options.engine,
      },
      this.now,
    );
  }

  private reachable(a: SimNode, b: SimNode): boolean {
    return !b.crashed && sameSide(a, b);
  }

  /**
   * One-way network delay. The virtual clock ticks in whole milliseconds: fractional times would
   * turn the engines' integer time fields into doubles mid-run, and V8 then migrates every member
   * record of every engine one by one (a 20x slowdown at N = 1,000).
   */
  private delay(): number {
    return Math.round((this.options.delayMs ?? 1) + this.random() * (this.options.jitterMs ?? 1));
  }

  /** When the node processes what reaches it at `at`: at once, or late and in order if slow. */
  private arrival(node: SimNode, at: number): number {
    if (at < node.pausedUntil) return node.pausedUntil;
    if (node.slowMs === 0 && node.slowJitterMs === 0) return at;
    const jitter = node.slowJitterMs === 0 ? 0 : this.random() * node.slowJitterMs;
    node.inboundAt = Math.max(node.inboundAt, Math.round(at + node.slowMs + jitter));
    return node.inboundAt;
  }

  /** After any input: collect outputs and events, and re-arm the node's wake-up. */
  private settle(node: SimNode): void {
    if (node.crashed) return;
    for (const out of node.engine.drainOutputs()) this.deliver(node, out);
    for (const e of node.engine.drainEvents()) {
      const ev = { ...e, observer: node.name };
      this.events.push(ev);
      for (const l of this.listeners) l(ev);
    }
    const next = node.engine.nextTimeout();
    if (next !== undefined && next !== node.wakeAt) {
      this.queue.cancel(node.wakeTimer);
      node.wakeAt = next;
      // Whole milliseconds here too (engine deadlines such as suspicion timeouts can be fractional).
      node.wakeTimer = this.queue.set(Math.max(Math.ceil(next), this.now, node.pausedUntil), (t) => {
        node.wakeAt = undefined;
        node.wakeTimer = undefined;
        if (node.crashed) return;
        node.engine.handleTimeout(t);
        this.settle(node);
      });
    }
  }

  private deliver(from: SimNode, out: Output): void {
    const to = this.byAddr.get(addressKey(out.to));
    switch (out.kind) {
      case 'packet': {
        this.packetsSent++;
        this.messagesSent += out.messages.length;
        if (!to || !this.reachable(from, to) || this.random() < this.lossRate) {
          this.packetsDropped++;
          return;
        }
        const messages: readonly Message[] = out.messages;
        const receive = (t: number) => {
          if (to.crashed) return;
          // Paused after this datagram was sent: it waits in the socket buffer.
          if (t < to.pausedUntil) {
            this.queue.set(to.pausedUntil, receive);
            return;
          }
          to.engine.handlePacket(from.addr, messages, t);
          this.settle(to);
        };
        this.queue.set(this.arrival(to, this.now + this.delay()), receive);
        return;
      }
      case 'pushPull': {
        if (!to || !this.reachable(from, to) || to.rejectsTcp) {
          const dialer = from.engine;
          const refused = to !== undefined && this.reachable(from, to);
          this.queue.set(refused ? this.now + 2 * this.delay() : this.now + this.profile.tcpTimeoutMs, (t) => {
            if (from.crashed || from.engine !== dialer) return;
            from.engine.handleStreamFailure(out.id, t);
            this.settle(from);
          });
          return;
        }
        const state: PushPull = out.state;
        const sentAt = this.now;
        // A stream belongs to one life of each end: a restart resets it (the id is per engine).
        const dialer = from.engine;
        const callee = to.engine;
        this.queue.set(this.arrival(to, this.now + this.delay()), (t) => {
          if (to.crashed || to.engine !== callee) {
            // Crashed while the stream was in flight: the dialer times out.
            this.queue.set(Math.max(t, sentAt + this.profile.tcpTimeoutMs), (t2) => {
              if (from.crashed || from.engine !== dialer) return;
              from.engine.handleStreamFailure(out.id, t2);
              this.settle(from);
            });
            return;
          }
          const reply = to.engine.handleRemotePushPull(state, t);
          this.settle(to);
          this.queue.set(this.arrival(from, t + this.delay()), (t2) => {
            if (from.crashed || from.engine !== dialer) return;
            from.engine.handlePushPullResponse(out.id, reply, t2);
            this.settle(from);
          });
        });
        return;
      }
      case 'tcpPing': {
        // A crashed process's port is closed: its kernel refuses the connect at once (RST). A
        // stalled one's kernel accepts it and the ack waits for the loop; across a partition the
        // SYN goes unanswered until the deadline.
        const result = to === undefined ? 'failed' : this.tcpPingResult(from, to);
        const at =
          result === 'refused'
            ? this.arrival(from, this.now + 2 * this.delay())
            : result === 'ack' && to !== undefined
              ? this.arrival(from, this.arrival(to, this.now + this.delay()) + this.delay())
              : out.deadline;
        const dialer = from.engine;
        // A refusal is read even past the deadline (a dial from a stalled loop gets at least one
        // turn of I/O before its timeout: gossip-transport.ts).
        const inTime = result === 'refused' || at <= out.deadline;
        this.queue.set(inTime ? at : out.deadline, (t) => {
          if (from.crashed || from.engine !== dialer) return;
          // A late ack: the member's kernel took the connect (its listen backlog), its loop did not answer in time.
          from.engine.handleTcpPingResult(out.ping.seqNo, inTime ? result : 'failed', t, result === 'ack');
          this.settle(from);
        });
      }
    }
  }

  private tcpPingResult(from: SimNode, to: SimNode): TcpPingResult {
    if (!sameSide(from, to)) return 'failed';
    return to.crashed || to.rejectsTcp ? 'refused' : 'ack';
  }
}

/** No partition between them (group 0 reaches every side). */
function sameSide(a: SimNode, b: SimNode): boolean {
  return a.group === 0 || b.group === 0 || a.group === b.group;
}
