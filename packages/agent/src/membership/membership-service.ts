import { EventEmitter } from 'node:events';
import { networkInterfaces } from 'node:os';
import type { Duplex } from 'node:stream';
import {
  DROP_REASONS,
  type DropReason,
  decodePacket,
  encodeMessage,
  encodePacket,
  encodeStream,
  Keyring,
  type Message,
  type PushPull,
} from '@vigil/protocol';
import { RateLimitedWarner } from '../base/rate-limited-warner.ts';
import { DataDir } from '../data-dir/data-dir.ts';
import type { Logger } from '../log.ts';
import { type Runtime, realRuntime, type TimerHandle } from '../runtime/index.ts';
import { type Address, addressKey } from './address.ts';
import type { TcpPortState } from './confirmation.ts';
import { type ScreenDrop, screenMessages, screenPushPull } from './gossip-screen.ts';
import { GossipTransport } from './gossip-transport.ts';
import { KeyManager } from './key-manager.ts';
import { loopContention } from './loop-contention.ts';
import { LoopStallMeter } from './loop-stall-meter.ts';
import { type MemberInfo, memberInfo, memberTags } from './member-info.ts';
import { ProbeTrail } from './probe-trail.ts';
import type { MembershipProfile } from './profiles.ts';
import { SerfCompat } from './serf-compat.ts';
import { conflictAnswer } from './serf-conflict.ts';
import { SerfQueries, type SerfQueryDrop } from './serf-queries.ts';
import { SnapshotKeeper } from './snapshot-keeper.ts';
import { type JoinResult, joinTargets, logJoinOutcome, StartupJoin } from './startup-join.ts';
import { readStreamMessage } from './stream-exchange.ts';
import { isLive, type MembershipEvent, type MemberView, type Output, SwimEngine } from './swim-engine.ts';
import { runTcpPing, type TcpPingResult } from './tcp-ping.ts';
import type { Transport, TransportFactory } from './transport.ts';
import { VerdictLog } from './verdict-log.ts';

export { type MemberInfo, memberInfo, memberTags } from './member-info.ts';
export type { JoinResult } from './startup-join.ts';

export interface MembershipOptions {
  readonly name: string;
  readonly bind: Address;
  /** Address to tell peers; defaults to the bind address, or a host address when bound to any. */
  readonly advertise?: Address | undefined;
  readonly meta: Uint8Array;
  readonly profile: MembershipProfile;
  /** Gossip keys, primary first; empty for plaintext. */
  readonly keys: readonly Uint8Array[];
  readonly dataDir: string | DataDir;
  readonly log: Logger;
  /** Clock, timers and randomness; realRuntime() unless a test or the simulator passes its own. */
  readonly runtime?: Runtime | undefined;
  /**
   * Watch this process's event loop for stalls (Lifeguard's self-awareness). It measures the real
   * loop, so it is on by default only with the real runtime: under virtual time it would feed
   * real-time noise into a replayable run.
   */
  readonly watchEventLoop?: boolean | undefined;
  /** The gossip port: UDP and TCP (GossipTransport.bind) unless the simulator passes its own. */
  readonly transport?: TransportFactory | undefined;
  readonly collectiveConfirmation?: boolean;
  /** Called after a key query changed our gossip keys. */
  readonly onKeysChanged?: (keys: readonly Uint8Array[]) => void;
}

export interface MembershipCounters {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  streamsIn: number;
  streamsOut: number;
  streamFailures: number;
  /** memberlist's TCP fallback pings by how they ended; `refused` is rule 5's evidence (README.md). */
  readonly tcpPings: Record<TcpPingResult, number>;
  /** The catalog's dropped-connection hints (`probeNow`): whether each started a probe. */
  readonly probeHints: Record<'started' | 'busy' | 'ignored', number>;
  readonly drops: Record<DropReason, number>;
}

/** Every counter at zero, each labelled family with all its labels (what /metrics shows). */
export function newMembershipCounters(): MembershipCounters {
  return {
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    streamsIn: 0,
    streamsOut: 0,
    streamFailures: 0,
    tcpPings: { ack: 0, refused: 0, failed: 0 },
    probeHints: { started: 0, busy: 0, ignored: 0 },
    drops: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
  };
}

/** Check the event loop this often; a stall longer than half a probe timeout counts against us. */
const LOOP_CHECK_MS = 1000;
/** Serf waits LeavePropagateDelay (1 s) after its intent; we stop sooner once nothing is queued. */
const LEAVE_PROPAGATE_MS = 1500;
/** Repeat a dropped-packet warning for the same reason at most this often. */
const DROP_LOG_INTERVAL_MS = 10_000;
/** Repeat the "UDP failed, TCP worked" warning at most this often. */
const TCP_FALLBACK_LOG_INTERVAL_MS = 30_000;
/** A stall this recent explains a UDP probe that failed where TCP then worked. */
const RECENT_STALL_MS = 10_000;

/**
 * The membership plane's I/O edge: owns the gossip sockets and the clock, runs the sans-I/O
 * SwimEngine, speaks the memberlist wire format through @vigil/protocol, and keeps the snapshot.
 */
export class MembershipService extends EventEmitter<{ event: [MembershipEvent] }> {
  /** Who suspected whom, how, and how it ended (GET /v1/members/:name). */
  readonly verdicts: VerdictLog;
  /** Each member's recent probing steps, as this agent took them (GET /v1/members/:name). */
  readonly trail: ProbeTrail;
  readonly counters: MembershipCounters = newMembershipCounters();
  private readonly opts: MembershipOptions;
  private readonly log: Logger;
  private readonly keyring: Keyring | undefined;
  private readonly serf: SerfCompat;
  private readonly queries: SerfQueries;
  /** `serf keys` / `vigil keys`: live gossip key rotation through Serf's key queries. */
  readonly keys: KeyManager;
  private readonly pushPullWaiters = new Map<number, (error?: string) => void>();
  private readonly dropWarner: RateLimitedWarner<DropReason>;
  private readonly tcpFallbackWarner: RateLimitedWarner<'tcp-fallback'>;
  /** When the event-loop check last saw a stall over half a probe timeout. */
  private lastStallAt = Number.NEGATIVE_INFINITY;
  private readonly runtime: Runtime;
  private readonly dataDir: DataDir;
  private engine!: SwimEngine;
  private transport!: Transport;
  private wakeTimer: TimerHandle | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;
  private stalls: LoopStallMeter | undefined;
  /** When the event-loop check last ran. */
  private loopCheckedAt = Number.NEGATIVE_INFINITY;
  private readonly snapshot: SnapshotKeeper;
  private readonly startup: StartupJoin;
  private stopped = false;

  private constructor(opts: MembershipOptions) {
    super();
    this.opts = opts;
    this.runtime = opts.runtime ?? realRuntime();
    this.dataDir = DataDir.of(opts.dataDir);
    this.verdicts = new VerdictLog(opts.name, () => this.runtime.clock.wallNow());
    this.trail = new ProbeTrail(() => this.runtime.clock.wallNow());
    this.dropWarner = new RateLimitedWarner(DROP_LOG_INTERVAL_MS, () => this.now());
    this.tcpFallbackWarner = new RateLimitedWarner(TCP_FALLBACK_LOG_INTERVAL_MS, () => this.now());
    this.log = opts.log.child({ plane: 'membership' });
    this.snapshot = new SnapshotKeeper({
      runtime: this.runtime,
      dataDir: this.dataDir,
      log: this.log,
      members: () =>
        this.engine
          .memberViews()
          .filter((m) => m.name !== opts.name && isLive(m))
          .map((m) => ({ name: m.name, host: m.addr.host, port: m.addr.port })),
    });
    const [primary, ...others] = opts.keys;
    this.keyring = primary ? new Keyring(primary, others) : undefined;
    this.queries = new SerfQueries({
      name: opts.name,
      // Our entry holds the tags a reload set (setMeta); before the engine exists, the configured ones.
      tags: () => memberTags(this.engine?.member(opts.name)?.meta ?? opts.meta),
      address: () => this.engine.member(opts.name)!.addr,
      aliveMembers: () =>
        this.engine
          .memberViews()
          .filter(isLive)
          .map((m) => m.name),
      addressOf: (name) => {
        const m = this.engine.member(name);
        return m && isLive(m) ? m.addr : undefined;
      },
      gossipIntervalMs: opts.profile.gossipIntervalMs,
      broadcast: (payload, key) => {
        this.engine.broadcastUser(payload, key);
        // Our own queries start outside any packet handling; a microtask keeps pump non-reentrant.
        queueMicrotask(() => this.pump());
      },
      sendTo: (to, payload) => this.send(to, [{ type: 'user', payload }]),
      relayTargets: (k) => this.engine.randomAlive(k),
      now: () => this.now(),
      setTimer: (ms, fn) => this.runtime.timers.after(ms, fn),
      random: this.runtime.random,
    });
    this.queries.handle('_serf_conflict', (payload) =>
      conflictAnswer(payload, opts.name, (name) => this.engine.member(name), memberTags),
    );
    this.serf = new SerfCompat(opts.name, (payload, key) => this.engine.broadcastUser(payload, key), this.queries);
    const keyring = this.keyring;
    this.startup = new StartupJoin((seeds) => this.join(seeds, true), this.runtime.timers);
    this.keys = new KeyManager({
      queries: this.queries,
      keyring,
      store: this.dataDir,
      log: this.log,
      onChange: () => opts.onKeysChanged?.(keyring!.getKeys()),
    });
  }

  static async start(opts: MembershipOptions): Promise<MembershipService> {
    const service = new MembershipService(opts);
    try {
      await service.open();
    } catch (err) {
      await service.stop();
      throw err;
    }
    return service;
  }

  private async open(): Promise<void> {
    this.transport = await (this.opts.transport ?? ((b, h, t) => GossipTransport.bind(b, h, t)))(
      this.opts.bind,
      {
        packet: (from, data) => this.onPacket(from, data),
        stream: (socket, from) => void this.onStream(socket, from),
      },
      this.runtime.timers,
    );
    const advertise = this.opts.advertise ?? {
      host: advertiseHost(this.transport.address.host),
      port: this.transport.address.port,
    };
    this.engine = new SwimEngine(
      {
        name: this.opts.name,
        addr: advertise,
        meta: this.opts.meta,
        profile: this.opts.profile,
        random: () => this.runtime.random.next(),
        collectiveConfirmation: this.opts.collectiveConfirmation ?? true,
        delegate: this.serf,
        onSuspicion: (s, cause) => this.verdicts.suspicion(s, cause),
        onTrace: (member, step) => {
          if (step.step === 'hint') this.counters.probeHints[step.result]++;
          this.trail.note(member, step);
        },
      },
      this.now(),
    );
    this.engine.start(this.now());
    this.engine.broadcastUser(this.serf.joinIntent(), `serf-intent\0${this.opts.name}`);
    if (this.opts.watchEventLoop ?? this.opts.runtime === undefined) {
      // The once-a-second check rides on the meter's samples rather than a timer of its own, and
      // on our inputs while the meter sleeps (checkEventLoopIfDue). The meter may sleep only on
      // the real loop: under virtual time its contention figures would be real-time noise.
      this.loopCheckedAt = this.now();
      this.stalls = new LoopStallMeter(
        this.runtime,
        LoopStallMeter.periodFor(this.stallThresholdMs()),
        (now) => {
          if (!this.stopped && now - this.loopCheckedAt >= LOOP_CHECK_MS) this.checkEventLoop();
        },
        this.opts.runtime === undefined ? loopContention() : undefined,
      );
    }
    this.pump();
    this.log.info(
      { bind: addressKey(this.transport.address), advertise: addressKey(advertise), encrypted: !!this.keyring },
      'membership started',
    );
  }

  /** The gossip address actually bound. */
  address(): Address {
    return this.transport.address;
  }

  localName(): string {
    return this.opts.name;
  }

  health(): number {
    return this.engine.health();
  }

  /** Serf-layer messages refused, by reason: unparsable user messages count as malformed. */
  serfDrops(): Record<SerfQueryDrop, number> {
    return { ...this.queries.drops, malformed: this.queries.drops.malformed + this.serf.malformed };
  }

  /**
   * Sorted by name in code-unit order, as Go's sort.Strings orders them: the same on every host,
   * whatever its locale, and cheap enough for the mesh to call on every burst of changes.
   */
  members(): MemberInfo[] {
    return this.engine
      .memberViews()
      .map(memberInfo)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  member(name: string): MemberView | undefined {
    return this.engine.member(name);
  }

  tcpPort(name: string): TcpPortState | undefined {
    return this.engine.tcpPort(name);
  }

  /** Probes a member out of turn (see SwimEngine.probeNow). */
  probeNow(name: string): boolean {
    if (this.stopped) return false;
    const started = this.engine.probeNow(name, this.now());
    this.pump();
    return started;
  }

  /** Joins through the given seeds plus, when asked, the members of the last snapshot. */
  async join(seeds: readonly Address[], withSnapshot = false): Promise<JoinResult> {
    const { targets, errors } = await joinTargets(seeds, {
      withSnapshot,
      dataDir: this.dataDir,
      log: this.log,
      self: this.opts.name,
      own: [this.engine.member(this.opts.name)!.addr, this.transport.address],
    });
    const ids = this.engine.join(targets, this.now());
    const results = Promise.all(
      ids.map((id) => new Promise<string | undefined>((r) => this.pushPullWaiters.set(id, r))),
    );
    // Open the push/pull streams now, not at the engine's next timer (up to a gossip interval away).
    this.pump();
    const outcomes = await results;
    outcomes.forEach((err, i) => {
      if (err) errors.push(`${addressKey(targets[i]!)}: ${err}`);
    });
    const result = { joined: outcomes.filter((e) => e === undefined).length, errors };
    logJoinOutcome(this.log, targets.length, result, () =>
      this.engine.memberViews().some((m) => m.name !== this.opts.name && isLive(m)),
    );
    return result;
  }

  /**
   * The start-up join: seeds plus the snapshot, retried with backoff (as Consul's retry_join)
   * until one member answers, so agents can start in any order. Resolves after the first attempt.
   */
  startupJoin(seeds: readonly Address[]): Promise<JoinResult> {
    return this.startup.run(seeds);
  }

  /** Graceful leave: tell Serf (intent) and memberlist (dead from self), then wait for it to spread. */
  /** New node metadata (tags changed on reload): a fresh incarnation carries it to every member. */
  setMeta(meta: Uint8Array): void {
    this.engine.setMeta(meta, this.now());
    this.pump();
  }

  async leave(): Promise<void> {
    if (this.stopped) return;
    const intent: Message = { type: 'user', payload: this.serf.leaveIntent() };
    this.engine.leave(this.now(), [intent]);
    this.pump();
    const deadline = this.now() + LEAVE_PROPAGATE_MS;
    const minimum = this.now() + 2 * this.opts.profile.gossipIntervalMs;
    const announced = () => this.engine.member(this.opts.name)?.status === 'left';
    while (this.now() < deadline && (this.now() < minimum || !announced() || this.engine.pendingBroadcasts() > 0)) {
      await new Promise<void>((r) => this.runtime.timers.after(50, r));
    }
    this.log.info('left the cluster');
  }

  forceLeave(name: string): boolean {
    const ok = this.engine.forceLeave(name, this.now());
    this.pump();
    return ok;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (!this.engine) {
      await this.transport?.close();
      return;
    }
    this.wakeTimer?.cancel();
    this.startup.cancel();
    this.queries.close();
    this.stalls?.stop();
    await this.snapshot.close();
    // A key change answered just before the signal must be on disk before the lock is released.
    await this.keys.flush();
    for (const resolve of this.pushPullWaiters.values()) resolve('agent stopping');
    this.pushPullWaiters.clear();
    await this.transport.close();
  }

  // ---- engine driving ---------------------------------------------------------------------

  private now(): number {
    return this.runtime.clock.now();
  }

  /** After any input: perform the engine's outputs, publish its events, re-arm its timer. */
  private pump(): void {
    if (this.stopped) return;
    const outputs = this.engine.drainOutputs();
    this.traceSuspectsSent(outputs);
    for (const out of outputs) this.perform(out);
    const events = this.engine.drainEvents();
    for (const e of events) {
      this.verdicts.event(e);
      this.logEvent(e);
      this.emit('event', e);
    }
    if (events.length > 0) this.snapshot.changed();
    this.stalls?.watch(this.engine.awaitsAnswers());
    this.checkEventLoopIfDue();
    // Re-armed when the deadline moves later too: an ack cancels its probe's timeout, and a wake-up
    // kept for it would run nothing (one per probe, on an idle agent most of its wake-ups).
    const next = this.engine.nextTimeout() ?? Number.POSITIVE_INFINITY;
    if (next !== this.wakeAt) {
      this.wakeTimer?.cancel();
      this.wakeTimer = undefined;
      this.wakeAt = next;
      if (next === Number.POSITIVE_INFINITY) return;
      this.wakeTimer = this.runtime.timers.after(next - this.now(), () => {
        this.wakeAt = Number.POSITIVE_INFINITY;
        this.engine.handleTimeout(this.now());
        this.pump();
      });
    }
  }

  /** How many packets of this turn carry a suspicion of each member (the trail's `sent-suspect`). */
  private traceSuspectsSent(outputs: readonly Output[]): void {
    let sent: Map<string, { packets: number; own: boolean }> | undefined;
    for (const out of outputs) {
      if (out.kind !== 'packet') continue;
      for (const m of out.messages) {
        if (m.type !== 'suspect') continue;
        sent ??= new Map();
        const s = sent.get(m.node) ?? { packets: 0, own: false };
        s.packets++;
        s.own ||= m.from === this.opts.name;
        sent.set(m.node, s);
      }
    }
    for (const [node, s] of sent ?? []) this.trail.note(node, { step: 'sent-suspect', ...s });
  }

  private perform(out: Output): void {
    switch (out.kind) {
      case 'packet':
        this.send(out.to, out.messages);
        return;
      case 'pushPull':
        void this.pushPull(out.id, out.to, out.state);
        return;
      case 'tcpPing':
        void this.tcpPing(out.to, out.ping, out.deadline);
        return;
    }
  }

  private send(to: Address, messages: readonly Message[]): void {
    if (this.stopped) return;
    const packets = encodePacket(messages.map(encodeOnce), {
      crc: true,
      compress: true,
      keyring: this.keyring,
      maxPacketBytes: this.opts.profile.maxPacketBytes,
    });
    if (this.log.isLevelEnabled('trace')) {
      this.log.trace({ to: addressKey(to), types: messages.map((m) => m.type) }, 'send packet');
    }
    for (const p of packets) {
      this.counters.packetsOut++;
      this.counters.bytesOut += p.length;
      this.transport.sendPacket(to, p);
    }
  }

  private onPacket(from: Address, data: Uint8Array): void {
    if (this.stopped) return;
    this.counters.packetsIn++;
    this.counters.bytesIn += data.length;
    const result = decodePacket(data, { keyring: this.keyring });
    if (!result.ok) {
      this.noteDrop(result.reason, from, result.detail);
      return;
    }
    for (const reason of result.dropReasons) this.noteDrop(reason, from, 'part of a compound packet');
    const drop: ScreenDrop = (reason, detail) => this.noteDrop(reason, from, detail);
    // An accusation in this packet is judged by the voter rule at once: stalls first.
    this.checkEventLoopIfDue();
    this.engine.handlePacket(from, screenMessages(result.messages, drop), this.now());
    this.pump();
  }

  private async onStream(socket: Duplex, from: Address): Promise<void> {
    this.counters.streamsIn++;
    const timeout = this.opts.profile.tcpTimeoutMs;
    try {
      const msg = await readStreamMessage(
        socket,
        { keyring: this.keyring, readLabelHeader: true },
        timeout,
        this.runtime.timers,
      );
      if (this.stopped) return;
      let reply: Message | undefined;
      if (msg.type === 'pushPull') {
        const drop: ScreenDrop = (reason, detail) => this.noteDrop(reason, from, detail);
        reply = this.engine.handleRemotePushPull(screenPushPull(msg, drop), this.now());
      } else if (msg.type === 'ping') {
        if (msg.node === '' || msg.node === this.opts.name)
          reply = { type: 'ack', seqNo: msg.seqNo, payload: new Uint8Array(0) };
      } else if (msg.type === 'user') {
        this.serf.notifyUser(msg.payload);
      }
      // Answer before running the listeners: a joiner waits on this reply, and when a whole
      // cluster joins through one seed the seed's CPU is the bottleneck.
      if (reply) socket.end(encodeStream(reply, streamEncoding(this.keyring, false)));
      else socket.end();
      this.pump();
    } catch (err) {
      this.counters.streamFailures++;
      const message = (err as Error).message;
      const reason = message.split(':')[0] as DropReason;
      if ((DROP_REASONS as readonly string[]).includes(reason)) this.noteDrop(reason, from, message);
      socket.destroy();
    }
  }

  private async exchange(to: Address, message: Message, timeoutMs: number, onConnected?: () => void): Promise<Message> {
    const socket = await this.transport.dial(to, timeoutMs);
    onConnected?.();
    try {
      this.counters.streamsOut++;
      socket.write(encodeStream(message, streamEncoding(this.keyring, true)));
      return await readStreamMessage(
        socket,
        { keyring: this.keyring, readLabelHeader: false },
        timeoutMs,
        this.runtime.timers,
      );
    } finally {
      socket.destroy();
    }
  }

  private async pushPull(id: number, to: Address, state: PushPull): Promise<void> {
    let error: string | undefined;
    try {
      const reply = await this.exchange(to, state, this.opts.profile.tcpTimeoutMs);
      if (this.stopped) return;
      if (reply.type !== 'pushPull') throw new Error(`expected push/pull, got ${reply.type}`);
      const drop: ScreenDrop = (reason, detail) => this.noteDrop(reason, to, detail);
      this.engine.handlePushPullResponse(id, screenPushPull(reply, drop), this.now());
    } catch (err) {
      this.counters.streamFailures++;
      error = explainStreamError((err as Error).message, !!this.keyring);
      if (this.stopped) return;
      this.log.debug({ to: addressKey(to), err: error }, 'push/pull failed');
      this.engine.handleStreamFailure(id, this.now());
    }
    this.pump();
    this.pushPullWaiters.get(id)?.(error);
    this.pushPullWaiters.delete(id);
  }

  private async tcpPing(to: Address, ping: Message & { type: 'ping' }, deadline: number): Promise<void> {
    let connected = false;
    const timeoutMs = Math.max(1, deadline - this.now());
    const result = await runTcpPing(
      () =>
        this.exchange(to, ping, timeoutMs, () => {
          connected = true;
        }),
      ping.seqNo,
    );
    if (this.stopped) return;
    this.counters.tcpPings[result]++;
    if (this.engine.handleTcpPingResult(ping.seqNo, result, this.now(), connected)) this.warnTcpFallback(ping.node);
    this.pump();
  }

  // ---- health, logs, snapshot -------------------------------------------------------------

  /**
   * Lifeguard: a stalled event loop means this node is the slow detector; it probes less eagerly
   * and, for a while, does not vote on suspicions (SwimEngine.noteStall).
   */
  private checkEventLoop(): void {
    this.loopCheckedAt = this.now();
    const stallMs = this.stalls?.take() ?? 0;
    this.engine.noteStall(stallMs, this.now());
    if (this.isStall(stallMs)) {
      this.lastStallAt = this.now();
      this.log.warn({ stallMs: Math.round(stallMs), health: this.engine.health() }, 'event loop stalled');
    }
  }

  /** The once-a-second check, while the meter sleeps and so does not carry it. */
  private checkEventLoopIfDue(): void {
    if (this.stalls?.isSampling() === false && this.now() - this.loopCheckedAt >= LOOP_CHECK_MS) this.checkEventLoop();
  }

  private isStall(ms: number): boolean {
    return ms > this.stallThresholdMs();
  }

  private stallThresholdMs(): number {
    return this.opts.profile.probeTimeoutMs / 2;
  }

  /**
   * A member answered over TCP after its UDP probe failed. On a host whose own event loop was
   * stalling, the likely cause is that we read the UDP ack too late, not a firewall: say so, and
   * say it at most every half minute (a starved 50-agent start logged it 422 times).
   */
  private warnTcpFallback(node: string): void {
    const now = this.now();
    // The check runs once a second: a stall it has not reported yet is still in the histogram.
    const starved = now - this.lastStallAt < RECENT_STALL_MS || this.isStall(this.stalls?.peek() ?? 0);
    const message = starved
      ? 'reached member over TCP but UDP probes failed; our event loop was stalled (CPU starvation), so the UDP ack was likely read too late'
      : 'reached member over TCP but UDP probes failed; is UDP blocked?';
    this.tcpFallbackWarner.warn(this.log, 'tcp-fallback', { node, starved }, message);
  }

  private noteDrop(reason: DropReason, from: Address, detail: string): void {
    this.counters.drops[reason]++;
    const hint =
      reason === 'decrypt-failed'
        ? 'no key in our keyring decrypts it: the sender uses another gossip key (--encrypt)'
        : reason === 'unencrypted'
          ? 'the sender does not encrypt but we require it: give it the cluster key (--encrypt)'
          : detail;
    this.dropWarner.warn(this.log, reason, { from: addressKey(from), reason }, `dropped gossip: ${hint}`);
  }

  private logEvent(e: MembershipEvent): void {
    if (e.member.name === this.opts.name) return;
    const fields = { member: e.member.name, incarnation: e.member.incarnation, index: e.index };
    if (e.type === 'suspect' || e.type === 'confirmed')
      this.log.info({ ...fields, confirmations: e.member.confirmations }, `member ${e.type}`);
    else if (e.type === 'dead') this.log.warn(fields, 'member failed');
    else this.log.info(fields, `member ${e.type}`);
  }
}

/**
 * Encoded bytes by message. A broadcast rides on up to retransmitMult x log10(N+1) packets (and a
 * leave or confirmation is sent to dozens of members directly) as the same immutable object; as
 * memberlist keeps each broadcast encoded, we encode it once rather than per packet. During a
 * cluster start that re-encoding was a tenth of each agent's CPU.
 */
const encodedMessages = new WeakMap<Message, Uint8Array>();

function encodeOnce(m: Message): Uint8Array {
  let bytes = encodedMessages.get(m);
  if (bytes === undefined) {
    bytes = encodeMessage(m);
    encodedMessages.set(m, bytes);
  }
  return bytes;
}

/** When bound to every interface, advertise the first non-internal IPv4 address (as Serf does). */
export function advertiseHost(bound: string): string {
  if (bound !== '0.0.0.0' && bound !== '::') return bound;
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
  }
  return '127.0.0.1';
}

/**
 * Streams are LZW-compressed as memberlist does by default: a push/pull carries every member's
 * name, address and tags, and compresses to about a third, which is most of our idle bytes.
 */
function streamEncoding(keyring: Keyring | undefined, writeLabelHeader: boolean) {
  return { keyring, writeLabelHeader, compress: true };
}

function explainStreamError(message: string, encrypted: boolean): string {
  if (/closed the stream|ECONNRESET/.test(message)) {
    return `${message} (the peer hung up: ${encrypted ? 'it may use another gossip key' : 'it may require encryption (--encrypt)'})`;
  }
  if (message.startsWith('decrypt-failed')) return `${message} (the peer uses another gossip key)`;
  if (message.startsWith('unencrypted')) return `${message} (the peer does not encrypt; give it the cluster key)`;
  return message;
}
