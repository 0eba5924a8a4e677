import type { TimerHandle } from '../../runtime/index.ts';
import { VirtualRuntime } from '../../runtime/index.ts';
import { type KvInput, type KvOperation, type KvOutput, kvModel } from '../checker/kv-model.ts';
import { type CheckResult, checkLinearizable } from '../checker/linearizability.ts';
import { encodeKvCommand } from '../kv/kv-codec.ts';
import { KvStore } from '../kv/kv-store.ts';
import type { KvCommand, KvResult } from '../kv/types.ts';
import { decodeRaftMessage, encodeRaftMessage } from '../raft/codec.ts';
import { decodeConfig } from '../raft/config.ts';
import { RaftNode } from '../raft/raft-node.ts';
import type { Entry, RaftMessage, Ready, UnsafeOptions } from '../raft/types.ts';
import { type DurableState, emptyDisk, toStorage, writeReady } from './sim-disk.ts';

/** Rules the simulator can break on purpose, to prove the checker catches each. */
export type SimMutation = 'skip-fsync' | 'long-lease' | 'no-stickiness';
export const SIM_MUTATIONS: SimMutation[] = ['skip-fsync', 'long-lease', 'no-stickiness'];

export interface ElectionSimOptions {
  seed: number;
  voters: number;
  /** Virtual run length (ms of world time), alternating calm and chaos windows, then a final calm. */
  durationMs: number;
  electionTimeoutMs: number;
  heartbeatMs: number;
  /** Each node's clock runs at a rate in [1-drift, 1+drift] of world time (the configured bound). */
  maxClockDrift: number;
  /** Concurrent KV clients. */
  clients: number;
  /** Compact the log every this many applied entries (small: snapshots get exercised). */
  compactEvery: number;
  /** Push every message through the wire codec. */
  codec: boolean;
  mutation?: SimMutation;
  /** The leader removes followers in chaos windows and re-adds them in calm ones. */
  confChanges: boolean;
  /** Stated liveness bound: in a calm window (all up, healed, no loss) a lease holder appears within this. */
  livenessBoundMs: number;
}

export const DEFAULT_SIM_OPTIONS: Omit<ElectionSimOptions, 'seed'> = {
  voters: 3,
  durationMs: 30_000,
  electionTimeoutMs: 1000,
  heartbeatMs: 100,
  maxClockDrift: 0.05,
  clients: 3,
  compactEvery: 40,
  codec: true,
  confChanges: true,
  livenessBoundMs: 4_000,
};

export interface LeaseInterval {
  node: string;
  term: number;
  token: number;
  /** World time. */
  start: number;
  end: number;
}

export interface ElectionSimReport {
  seed: number;
  voters: number;
  /** Distinct (term, leader) pairs. */
  elections: number;
  /** Changes of lease holder along world time. */
  leaderChanges: number;
  leases: number;
  opsChecked: number;
  linearizable: CheckResult;
  crashes: number;
  /** Crashes of every node at once, timed mid-fsync. */
  powerLosses: number;
  /** Configuration changes the leader accepted (removals in chaos, re-additions in calm). */
  confChanges: number;
  messages: number;
  calmWindows: number;
  /** Worst time from a calm window's start to a lease holder (ms of world time). */
  maxTimeToLeaderMs: number;
  violations: string[];
}

interface SimNode {
  id: string;
  rate: number;
  offset: number;
  up: boolean;
  epoch: number;
  raft: RaftNode | undefined;
  kv: KvStore;
  disk: DurableState;
  /** The page cache (skip-fsync mutation only): written at once, durable at the next writeback. */
  cache: DurableState;
  busy: boolean;
  tick: TimerHandle | undefined;
  tickAt: number;
  applied: number;
  lease: LeaseInterval | undefined;
  waitingReads: { op: PendingOp; index: number }[];
}

interface PendingOp {
  id: string;
  client: number;
  node: string;
  input: KvInput;
  call: number;
  ret: number;
  output: KvOutput | undefined;
  /** Writes: where the proposal went. */
  index: number;
  term: number;
  done: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const KEYS = ['a', 'b', 'c'];

/** Runs one seeded history of a Raft group under faults and checks it. Deterministic per options. */
export function runElectionSim(options: Partial<ElectionSimOptions> & { seed: number }): ElectionSimReport {
  const o: ElectionSimOptions = { ...DEFAULT_SIM_OPTIONS, ...options };
  return new ElectionSim(o).run();
}

/** The command line that replays one seed. */
export function replayCommand(o: Partial<ElectionSimOptions> & { seed: number }): string {
  const parts = [`npm run sim:election -w scripts -- --seed ${o.seed} --seeds 1`];
  if (o.voters !== undefined) parts.push(`--voters ${o.voters}`);
  if (o.durationMs !== undefined) parts.push(`--duration ${o.durationMs}`);
  if (o.mutation) parts.push(`--mutation ${o.mutation}`);
  return `${parts.join(' ')} --verbose`;
}

class ElectionSim {
  private readonly o: ElectionSimOptions;
  private readonly world: VirtualRuntime;
  private readonly rnd: () => number;
  private readonly nodes: SimNode[] = [];
  private readonly byId = new Map<string, SimNode>();
  private readonly violations: string[] = [];
  private readonly leaders = new Map<number, string>();
  private readonly intervals: LeaseInterval[] = [];
  private readonly appliedLog = new Map<number, Entry>();
  private readonly results = new Map<number, KvResult>();
  private readonly ops: PendingOp[] = [];
  private readonly pending = new Map<string, PendingOp>();
  private blocked = new Set<string>();
  private loss = 0;
  private dup = 0;
  private jitter = 0;
  private crashes = 0;
  private messages = 0;
  private calm = true;
  /** Election groups are mostly idle: some windows carry no client traffic at all. */
  private clientsIdle = false;
  /** Nodes a calm window keeps down (a minority). */
  private heldDown = new Set<string>();
  private powerLossArmed = false;
  private calmStart = 0;
  private calmWindows = 0;
  private awaitingLeader = true;
  private maxTimeToLeader = 0;
  private opSeq = 0;
  private readonly unsafe: UnsafeOptions | undefined;

  constructor(o: ElectionSimOptions) {
    this.o = o;
    this.world = new VirtualRuntime(o.seed);
    this.rnd = this.world.random.next;
    this.unsafe =
      o.mutation === 'long-lease'
        ? { leaseFactor: 1.6 }
        : o.mutation === 'no-stickiness'
          ? { noStickiness: true }
          : undefined;
    const ids = Array.from({ length: o.voters }, (_, i) => `n${i + 1}`);
    for (const id of ids) {
      const r = this.rnd();
      const d = o.maxClockDrift;
      // Extremes are the interesting cases: a third of clocks run at each bound.
      const rate = r < 0.33 ? 1 - d : r < 0.66 ? 1 + d : 1 + (this.rnd() * 2 - 1) * d;
      const node: SimNode = {
        id,
        rate,
        offset: Math.floor(this.rnd() * 1e6),
        up: false,
        epoch: 0,
        raft: undefined,
        kv: new KvStore(),
        disk: emptyDisk(),
        cache: emptyDisk(),
        busy: false,
        tick: undefined,
        tickAt: Number.POSITIVE_INFINITY,
        applied: 0,
        lease: undefined,
        waitingReads: [],
      };
      this.nodes.push(node);
      this.byId.set(id, node);
    }
  }

  run(): ElectionSimReport {
    for (const n of this.nodes) this.start(n);
    this.scheduleWindows();
    for (let c = 0; c < this.o.clients; c++) this.clientLoop(c);
    this.world.advance(this.o.durationMs);
    this.finish();
    return this.report();
  }

  // ------------------------------------------------------------ time

  private now(): number {
    return this.world.worldNow;
  }
  private local(n: SimNode, t = this.now()): number {
    return n.offset + n.rate * t;
  }
  private real(n: SimNode, local: number): number {
    return (local - n.offset) / n.rate;
  }
  private after(ms: number, fn: () => void): TimerHandle {
    return this.world.timers.after(ms, fn);
  }

  // ------------------------------------------------------------ faults

  private scheduleWindows(): void {
    // Calm first (bootstrap), then chaos and calm in turn; the last stretch is always calm so
    // every client op can settle and the liveness bound is checked once more.
    const calmMs = this.o.livenessBoundMs + 2000;
    const endChaos = this.o.durationMs - calmMs;
    let t = 0;
    this.beginCalm();
    t += calmMs;
    while (t + 1000 < endChaos) {
      const len = Math.min(1000 + this.rnd() * 5000, endChaos - t);
      const chaosAt = t;
      this.after(chaosAt, () => this.beginChaos(len));
      t += len;
      const calmAt = t;
      this.after(calmAt, () => this.beginCalm());
      t += calmMs;
    }
  }

  private beginCalm(): void {
    this.calm = true;
    this.blocked = new Set();
    this.loss = 0;
    this.dup = 0;
    this.jitter = 0;
    // A stable majority, not necessarily everyone: some windows keep a minority down throughout.
    this.heldDown = new Set();
    // Only while every node is a voter: a minority of the nodes must be a minority of the configuration.
    const fullConfig = this.nodes.every((n) => this.votersSeenBy(n).length === this.nodes.length);
    if (this.calmWindows > 0 && this.rnd() < 0.3 && fullConfig) {
      const minority = Math.floor((this.nodes.length - 1) / 2);
      const order = [...this.nodes].sort(() => this.rnd() - 0.5);
      for (const n of order.slice(0, minority)) {
        this.heldDown.add(n.id);
        if (n.up) this.crash(n);
      }
    }
    for (const n of this.nodes) if (!n.up && !this.heldDown.has(n.id)) this.start(n);
    if (this.o.confChanges) this.readdVoters(this.calmStart);
    this.calmStart = this.now();
    this.calmWindows++;
    this.clientsIdle = false;
    this.awaitingLeader = true;
    for (const n of this.nodes) this.observe(n);
    const bound = this.o.livenessBoundMs;
    const windowStart = this.calmStart;
    this.after(bound, () => {
      if (this.calm && this.calmStart === windowStart && this.awaitingLeader) {
        this.violation(`no lease holder within ${bound} ms of a calm window starting at ${windowStart}`);
        this.awaitingLeader = false;
      }
    });
  }

  /** The configuration a node holds: in memory if up, else the latest one on its disk. */
  private votersSeenBy(n: SimNode): string[] {
    if (n.raft) return n.raft.status().voters;
    for (let i = n.disk.entries.length - 1; i >= 0; i--) {
      const e = n.disk.entries[i]!;
      if (e.kind === 'config') return decodeConfig(e.data) ?? [];
    }
    return n.disk.snapshot?.voters ?? this.nodes.map((x) => x.id);
  }

  /** During a calm window, the leader re-adds every removed node, one change at a time. */
  private readdVoters(windowStart: number): void {
    if (!this.calm || this.calmStart !== windowStart) return;
    const leader = this.nodes.find((n) => n.raft?.status().role === 'leader');
    const missing = leader ? this.nodes.filter((n) => !leader.raft!.status().voters.includes(n.id)) : [];
    if (leader && missing.length > 0) {
      if (leader.raft!.proposeConfChange({ add: missing[0]!.id }, this.local(leader)).ok) this.confChanges++;
      this.afterEvent(leader);
    }
    if (!leader || missing.length > 0) this.after(300, () => this.readdVoters(windowStart));
  }

  private beginChaos(len: number): void {
    this.calm = false;
    this.heldDown = new Set();
    for (const n of this.nodes) if (!n.up && this.rnd() < 0.5) this.start(n);
    this.awaitingLeader = false;
    this.clientsIdle = this.rnd() < 0.5;
    const events = 1 + Math.floor(this.rnd() * 4);
    for (let i = 0; i < events; i++) this.after(this.rnd() * len * 0.8, () => this.chaosEvent());
  }

  private chaosEvent(): void {
    if (this.calm) return;
    const ids = this.nodes.map((n) => n.id);
    const r = this.rnd();
    const leaderNow = this.nodes.find((n) => n.raft?.status().role === 'leader')?.id;
    if (r < 0.15) {
      // Symmetric split: a random minority side.
      const side = new Set(ids.filter(() => this.rnd() < 0.4));
      this.blocked = new Set();
      for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.blocked.add(`${a}>${b}`);
    } else if (r < 0.25) {
      // Isolate whoever leads now.
      if (leaderNow) {
        this.blocked = new Set();
        for (const b of ids) if (b !== leaderNow) this.blocked.add(`${leaderNow}>${b}`).add(`${b}>${leaderNow}`);
      }
    } else if (r < 0.37) {
      // One-way: a node hears nothing from some peers but is heard.
      const a = ids[Math.floor(this.rnd() * ids.length)]!;
      for (const b of ids) if (b !== a && this.rnd() < 0.6) this.blocked.add(`${b}>${a}`);
    } else if (r < 0.52) {
      // Partial connectivity: one link cut both ways (often one of the leader's), the rest up.
      const a = leaderNow && this.rnd() < 0.6 ? leaderNow : ids[Math.floor(this.rnd() * ids.length)]!;
      const others = ids.filter((x) => x !== a);
      const b = others[Math.floor(this.rnd() * others.length)]!;
      this.blocked.add(`${a}>${b}`).add(`${b}>${a}`);
    } else if (r < 0.62) {
      this.loss = this.rnd() * 0.3;
      this.dup = this.rnd() * 0.1;
      this.jitter = this.rnd() * 50;
    } else if (r < 0.65) {
      this.blocked = new Set();
    } else if (r < 0.72 && this.o.confChanges) {
      // Reconfiguration: the leader removes a follower (it is re-added at the next calm window).
      const leader = this.nodes.find((n) => n.raft?.status().role === 'leader');
      const voters = leader?.raft?.status().voters ?? [];
      const candidates = voters.filter((v) => v !== leader?.id);
      if (leader && candidates.length >= 2) {
        const victim = candidates[Math.floor(this.rnd() * candidates.length)]!;
        if (leader.raft!.proposeConfChange({ remove: victim }, this.local(leader)).ok) this.confChanges++;
        this.afterEvent(leader);
      }
    } else if (r < 0.85) {
      // Power loss of every node, timed to hit while some node's writes are still in its page
      // cache (mid-fsync): whatever was not fsynced is gone.
      this.powerLossArmed = true;
    } else {
      // Crash one node; it restarts from its disk after a while (or at the next calm window).
      const up = this.nodes.filter((n) => n.up);
      const victim =
        this.rnd() < 0.5
          ? (up.find((n) => n.raft?.status().role === 'leader') ?? up[0])
          : up[Math.floor(this.rnd() * up.length)];
      if (victim) {
        this.crash(victim);
        this.after(200 + this.rnd() * 3000, () => this.restart(victim));
      }
    }
  }

  // ------------------------------------------------------------ node lifecycle

  private start(n: SimNode): void {
    n.up = true;
    n.epoch++;
    n.busy = false;
    const storage = toStorage(n.disk);
    n.kv = n.disk.snapshot ? KvStore.restore(n.disk.snapshot.data) : new KvStore();
    n.applied = n.disk.snapshot?.index ?? 0;
    n.waitingReads = [];
    n.cache = n.disk;
    if (this.o.mutation === 'skip-fsync') this.writeback(n, n.epoch);
    n.raft = new RaftNode(
      {
        id: n.id,
        voters: this.nodes.map((x) => x.id),
        electionTimeoutMs: this.o.electionTimeoutMs,
        heartbeatMs: this.o.heartbeatMs,
        maxClockDrift: this.o.maxClockDrift,
        random: this.world.fork().random,
        storage,
        ...(this.unsafe ? { unsafe: this.unsafe } : {}),
      },
      this.local(n),
    );
    this.afterEvent(n);
  }

  /** The kernel flushing dirty pages every 2 s (what makes un-fsynced writes durable eventually). */
  private writeback(n: SimNode, epoch: number): void {
    this.after(2000, () => {
      if (n.epoch !== epoch) return;
      n.disk = n.cache;
      this.writeback(n, epoch);
    });
  }

  private powerLosses = 0;
  private confChanges = 0;
  private powerLoss(): void {
    this.powerLosses++;
    for (const n of this.nodes) {
      if (!n.up) continue;
      this.crash(n);
      this.after(100 + this.rnd() * 2000, () => this.restart(n));
    }
  }

  private restart(n: SimNode): void {
    if (!n.up && !this.heldDown.has(n.id)) this.start(n);
  }

  private crash(n: SimNode): void {
    this.crashes++;
    n.up = false;
    n.epoch++;
    n.raft = undefined;
    n.busy = false;
    n.tick?.cancel();
    n.tick = undefined;
    n.tickAt = Number.POSITIVE_INFINITY;
    if (n.lease) {
      n.lease.end = Math.min(n.lease.end, this.now());
      n.lease = undefined;
    }
    for (const op of this.pending.values()) if (op.node === n.id) this.giveUp(op);
  }

  private afterEvent(n: SimNode): void {
    if (!n.up || !n.raft) return;
    this.pump(n);
    this.observe(n);
    // A hair late: converting between clocks rounds, and a tick a hair early would do nothing.
    const at = this.real(n, n.raft.nextDeadline()) + 1e-6;
    if (at !== n.tickAt) {
      n.tick?.cancel();
      n.tickAt = at;
      const epoch = n.epoch;
      n.tick = this.after(Math.max(0, at - this.now()), () => {
        if (n.epoch !== epoch || !n.raft) return;
        n.tickAt = Number.POSITIVE_INFINITY;
        n.tick = undefined;
        n.raft.tick(this.local(n));
        this.afterEvent(n);
      });
    }
  }

  /** Drains one Ready: write, fsync (it takes a while), then send, apply, advance. */
  private pump(n: SimNode): void {
    const raft = n.raft;
    if (!raft || n.busy || !raft.hasReady()) return;
    const ready = raft.ready();
    if (ready.role?.role === 'leader') {
      const prev = this.leaders.get(ready.role.term);
      if (prev !== undefined && prev !== n.id) {
        this.violation(`two leaders in term ${ready.role.term}: ${prev} and ${n.id}`);
      }
      this.leaders.set(ready.role.term, n.id);
    }
    const skipFsync = this.o.mutation === 'skip-fsync';
    n.busy = true;
    const epoch = n.epoch;
    const fsyncMs = 0.5 + this.rnd() * 8;
    if (this.powerLossArmed && !this.calm && (ready.entries.length > 0 || ready.hardState?.vote !== undefined)) {
      // Late in this fsync: what the node already acknowledged has likely been acted on.
      this.powerLossArmed = false;
      this.after(fsyncMs * (0.6 + 0.4 * this.rnd()), () => this.powerLoss());
    }
    if (skipFsync) {
      // The broken rule: write() without fsync, and send at once. The writes sit in the page
      // cache until the kernel's periodic writeback (see start); a power loss takes them.
      n.cache = writeReady(n.cache, ready);
      this.sendAll(ready.messages);
    }
    const disk = skipFsync ? undefined : writeReady(n.disk, ready);
    this.after(skipFsync ? 0.05 : fsyncMs, () => {
      if (n.epoch !== epoch) return; // crashed before the fsync finished: the writes are lost
      if (disk) n.disk = disk;
      if (!skipFsync) this.sendAll(ready.messages);
      this.apply(n, ready);
      raft.advance(ready, this.local(n));
      const snapIndex = (disk ?? n.cache).snapshot?.index ?? 0;
      if (n.applied - snapIndex >= this.o.compactEvery && raft.status().applied === n.applied) {
        raft.compact(n.applied, n.kv.snapshot());
      }
      n.busy = false;
      this.afterEvent(n);
    });
  }

  private apply(n: SimNode, ready: Ready): void {
    if (ready.snapshot) {
      n.kv = KvStore.restore(ready.snapshot.data);
      n.applied = ready.snapshot.index;
    }
    for (const e of ready.committed) {
      if (e.index !== n.applied + 1) this.violation(`${n.id} applied ${e.index} after ${n.applied}`);
      n.applied = e.index;
      const seen = this.appliedLog.get(e.index);
      if (!seen) this.appliedLog.set(e.index, e);
      else if (seen.term !== e.term || seen.kind !== e.kind || !sameBytes(seen.data, e.data)) {
        this.violation(`state machine safety: index ${e.index} applied as term ${seen.term} and term ${e.term}`);
      }
      const result = n.kv.apply(e);
      if (result && !this.results.has(e.index)) this.results.set(e.index, result);
      for (const op of this.pending.values()) {
        if (op.node !== n.id || op.index !== e.index || op.input.op === 'get') continue;
        if (e.term === op.term && result) this.complete(op, outputOf(op.input, result));
        else this.drop(op); // another entry took the index: the proposal is gone
      }
    }
    for (const rs of ready.readStates) {
      const op = this.pending.get(rs.id);
      if (!op || op.node !== n.id) continue;
      if (rs.index === 0) this.drop(op);
      else n.waitingReads.push({ op, index: rs.index });
    }
    n.waitingReads = n.waitingReads.filter(({ op, index }) => {
      if (op.done) return false;
      if (n.applied < index) return true;
      const entry = n.kv.get(op.input.key);
      this.complete(op, {
        value: entry ? decoder.decode(entry.value) : undefined,
        modifyIndex: entry?.modifyIndex ?? 0,
      });
      return false;
    });
  }

  /** Lease bookkeeping and the liveness clock, after every event at `n`. */
  private observe(n: SimNode): void {
    const raft = n.raft;
    if (!raft) return;
    const t = this.now();
    const until = raft.leaseValidUntil(this.local(n, t));
    if (until !== undefined) {
      const end = this.real(n, until);
      // Still the same lease (a new term needs a step-down first, which ends it at that event).
      if (n.lease && n.lease.end > t) n.lease.end = end;
      else {
        const s = raft.status();
        n.lease = { node: n.id, term: s.term, token: s.token, start: t, end };
        this.intervals.push(n.lease);
      }
      if (this.calm && this.awaitingLeader) {
        this.awaitingLeader = false;
        this.maxTimeToLeader = Math.max(this.maxTimeToLeader, t - this.calmStart);
      }
    } else if (n.lease) {
      n.lease.end = Math.min(n.lease.end, t);
      n.lease = undefined;
    }
  }

  // ------------------------------------------------------------ network

  private sendAll(msgs: RaftMessage[]): void {
    for (const m of msgs) this.send(m);
  }

  private send(m: RaftMessage): void {
    this.messages++;
    if (this.blocked.has(`${m.from}>${m.to}`) || this.rnd() < this.loss) return;
    const bytes = this.o.codec ? encodeRaftMessage(m) : undefined;
    const copies = this.rnd() < this.dup ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = 0.5 + this.rnd() * 4 + (this.jitter > 0 ? this.rnd() * this.jitter : 0);
      this.after(delay, () => this.deliver(m, bytes));
    }
  }

  private deliver(m: RaftMessage, bytes: Uint8Array | undefined): void {
    const n = this.byId.get(m.to);
    if (!n?.up || !n.raft || this.blocked.has(`${m.from}>${m.to}`)) return;
    let msg = m;
    if (bytes) {
      const decoded = decodeRaftMessage(bytes);
      if (!decoded.ok) {
        this.violation(`codec refused our own ${m.type}: ${decoded.reason}`);
        return;
      }
      msg = decoded.msg;
    }
    n.raft.step(msg, this.local(n));
    this.afterEvent(n);
  }

  // ------------------------------------------------------------ clients

  private clientLoop(client: number): void {
    this.after(20 + this.rnd() * 150, () => {
      if (this.now() < this.o.durationMs - 2500 && !this.clientsIdle) this.issue(client);
      else this.clientLoop(client);
    });
  }

  private issue(client: number): void {
    const up = this.nodes.filter((n) => n.up && n.raft);
    if (up.length === 0) {
      this.clientLoop(client);
      return;
    }
    // Mostly at whoever some node believes leads (clients get redirected), sometimes anywhere.
    const hint = up[Math.floor(this.rnd() * up.length)]!.raft!.status().leader;
    const target =
      (this.rnd() < 0.8 && hint && this.byId.get(hint)?.up ? this.byId.get(hint)! : undefined) ??
      up[Math.floor(this.rnd() * up.length)]!;
    const raft = target.raft!;
    const key = KEYS[Math.floor(this.rnd() * KEYS.length)]!;
    const id = `c${client}-${this.opSeq++}`;
    const value = id;
    const r = this.rnd();
    let input: KvInput;
    let cmd: KvCommand | undefined;
    if (r < 0.35) input = { op: 'get', key };
    else if (r < 0.65) {
      input = { op: 'put', key, value };
      cmd = { op: 'put', key, value: encoder.encode(value) };
    } else if (r < 0.9) {
      const expect = target.kv.get(key)?.modifyIndex ?? 0;
      input = { op: 'cas', key, expect, value };
      cmd = { op: 'cas', key, index: expect, value: encoder.encode(value) };
    } else {
      input = { op: 'delete', key };
      cmd = { op: 'delete', key };
    }
    const local = this.local(target);
    const op: PendingOp = {
      id,
      client,
      node: target.id,
      input,
      call: this.now(),
      ret: Number.POSITIVE_INFINITY,
      output: undefined,
      index: 0,
      term: 0,
      done: false,
    };
    if (cmd) {
      const term = raft.status().term;
      const res = raft.propose(encodeKvCommand(cmd), local);
      if (!res.ok) {
        this.afterEvent(target);
        this.clientLoop(client);
        return;
      }
      op.index = res.index;
      op.term = term;
    } else if (!raft.readIndex(id, local).ok) {
      this.afterEvent(target);
      this.clientLoop(client);
      return;
    }
    this.ops.push(op);
    this.pending.set(id, op);
    this.after(3 * this.o.electionTimeoutMs, () => {
      if (!op.done) this.giveUp(op);
    });
    this.afterEvent(target);
  }

  private complete(op: PendingOp, output: KvOutput): void {
    if (op.done) return;
    op.done = true;
    op.output = output;
    op.ret = this.now();
    this.pending.delete(op.id);
    this.clientLoop(op.client);
  }

  /** The op had no effect (refused, or its index went to another entry). */
  private drop(op: PendingOp): void {
    if (op.done) return;
    op.done = true;
    op.output = undefined;
    op.index = -1;
    this.pending.delete(op.id);
    this.clientLoop(op.client);
  }

  /** The client stops waiting: the outcome is unknown (ret stays Infinity). */
  private giveUp(op: PendingOp): void {
    if (op.done) return;
    op.done = true;
    this.pending.delete(op.id);
    this.clientLoop(op.client);
  }

  // ------------------------------------------------------------ checking

  private violation(text: string): void {
    if (this.violations.length < 20) this.violations.push(`t=${this.now().toFixed(1)}: ${text}`);
  }

  private finish(): void {
    const t = this.now();
    for (const n of this.nodes) if (n.lease) n.lease.end = Math.min(n.lease.end, t);
    this.checkLeases();
    this.checkHistory();
  }

  private checkLeases(): void {
    const sorted = [...this.intervals].filter((i) => i.end > i.start).sort((a, b) => a.start - b.start);
    for (let i = 0; i < sorted.length; i++) {
      const a = sorted[i]!;
      for (let j = i + 1; j < sorted.length; j++) {
        const b = sorted[j]!;
        if (b.start >= a.end) continue;
        if (b.node !== a.node) {
          this.violations.push(
            `two lease holders at once: ${a.node} (term ${a.term}) [${a.start.toFixed(1)}, ${a.end.toFixed(1)}) and ${b.node} (term ${b.term}) [${b.start.toFixed(1)}, ${b.end.toFixed(1)})`,
          );
          return;
        }
      }
      const prev = sorted[i - 1];
      if (prev && (a.token < prev.token || (a.term !== prev.term && a.token <= prev.token))) {
        this.violations.push(
          `fencing token fell or repeated: ${prev.token} (term ${prev.term}) then ${a.token} (term ${a.term})`,
        );
        return;
      }
    }
  }

  private history(): KvOperation[] {
    const out: KvOperation[] = [];
    for (const op of this.ops) {
      if (op.index === -1) continue;
      if (op.output) {
        out.push({ client: op.client, call: op.call, ret: op.ret, input: op.input, output: op.output });
        continue;
      }
      // Unknown outcome. A read had no effect: leave it out. A write took effect iff its
      // (index, term) was applied somewhere; then its output is what that apply returned.
      if (op.input.op === 'get') continue;
      const applied = this.appliedLog.get(op.index);
      const result = this.results.get(op.index);
      if (!applied || applied.term !== op.term || !result) continue;
      out.push({
        client: op.client,
        call: op.call,
        ret: Number.POSITIVE_INFINITY,
        input: op.input,
        output: outputOf(op.input, result),
      });
    }
    return out;
  }

  private lin: CheckResult = 'ok';
  private opsChecked = 0;

  private checkHistory(): void {
    const history = this.history();
    this.opsChecked = history.length;
    const { result, failedPart } = checkLinearizable(kvModel, history);
    this.lin = result;
    if (result === 'illegal') {
      this.violations.push(
        `KV history not linearizable (key ${failedPart?.[0]?.input.key}, ${failedPart?.length} ops):\n${(
          failedPart ?? []
        )
          .map(
            (p) =>
              `  c${p.client} [${p.call.toFixed(1)}, ${p.ret.toFixed(1)}] ${JSON.stringify(p.input)} -> ${JSON.stringify(p.output)}`,
          )
          .join('\n')}`,
      );
    }
  }

  private report(): ElectionSimReport {
    const sorted = [...this.intervals].sort((a, b) => a.start - b.start);
    let changes = 0;
    for (let i = 1; i < sorted.length; i++) if (sorted[i]!.node !== sorted[i - 1]!.node) changes++;
    return {
      seed: this.o.seed,
      voters: this.o.voters,
      elections: this.leaders.size,
      leaderChanges: changes,
      leases: this.intervals.length,
      opsChecked: this.opsChecked,
      linearizable: this.lin,
      crashes: this.crashes,
      powerLosses: this.powerLosses,
      confChanges: this.confChanges,
      messages: this.messages,
      calmWindows: this.calmWindows,
      maxTimeToLeaderMs: this.maxTimeToLeader,
      violations: this.violations,
    };
  }
}

function outputOf(input: KvInput, result: KvResult): KvOutput {
  if (input.op === 'cas') {
    if (result.ok) return { ok: true, index: result.index };
    return { ok: false, index: result.index, current: result.error === 'cas-failed' ? result.current : -1 };
  }
  return { index: result.index };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
