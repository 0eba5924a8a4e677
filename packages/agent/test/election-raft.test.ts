// The Raft core's rules, one at a time, with crafted messages: no network, no simulator. Each
// test builds nodes at chosen times, feeds them messages and reads their Ready.
import { describe, expect, it } from 'vitest';
import { encodeConfig } from '../src/election/raft/config.ts';
import { RaftNode } from '../src/election/raft/raft-node.ts';
import type { Entry, RaftMessage, RaftOptions, RaftStorage, Ready } from '../src/election/raft/types.ts';
import { mulberry32 } from '../src/sim/random.ts';

const ET = 1000;
const DRIFT = 0.05;
const STICKY = ET * (1 + DRIFT); // a voter's sticky window after hearing a leader
const LEASE = ET * (1 - DRIFT);
const VOTERS = ['a', 'b', 'c'];

function node(id: string, now = 0, extra: Partial<RaftOptions> = {}): RaftNode {
  return new RaftNode(
    {
      id,
      voters: VOTERS,
      electionTimeoutMs: ET,
      heartbeatMs: 100,
      maxClockDrift: DRIFT,
      random: { next: mulberry32(id.charCodeAt(0)) },
      ...extra,
    },
    now,
  );
}

/** Takes and acknowledges every Ready, as a caller would after persisting; returns them merged. */
function drain(n: RaftNode, now: number): Ready & { readies: Ready[] } {
  const readies: Ready[] = [];
  while (n.hasReady()) {
    const r = n.ready();
    readies.push(r);
    n.advance(r, now);
  }
  return {
    readies,
    entries: readies.flatMap((r) => r.entries),
    messages: readies.flatMap((r) => r.messages),
    committed: readies.flatMap((r) => r.committed),
    readStates: readies.flatMap((r) => r.readStates),
    ...(readies.findLast((r) => r.hardState) ? { hardState: readies.findLast((r) => r.hardState)!.hardState! } : {}),
    ...(readies.find((r) => r.snapshot) ? { snapshot: readies.find((r) => r.snapshot)!.snapshot! } : {}),
  };
}

type Append = Extract<RaftMessage, { type: 'append' }>;

/** An append from leader a to follower b, after entry (1, term 1) unless told otherwise. */
function appendToB(m: Pick<Append, 'term' | 'entries' | 'commit' | 'ctx'> & Partial<Append>): Append {
  return { type: 'append', from: 'a', to: 'b', prevIndex: 1, prevTerm: 1, ...m };
}

/** A synchronous network of nodes: delivers every message (unless dropped) until quiet. */
class Net {
  readonly nodes = new Map<string, RaftNode>();
  now = 0;
  cut = new Set<string>();
  log: RaftMessage[] = [];

  constructor(ids = VOTERS) {
    for (const id of ids) this.nodes.set(id, node(id, 0));
  }
  get(id: string): RaftNode {
    return this.nodes.get(id)!;
  }
  /** Delivers until no node has anything to say. */
  settle(): void {
    for (let round = 0; round < 1000; round++) {
      const msgs: RaftMessage[] = [];
      for (const n of this.nodes.values()) msgs.push(...drain(n, this.now).messages);
      if (msgs.length === 0) return;
      for (const m of msgs) {
        this.log.push(m);
        if (this.cut.has(`${m.from}>${m.to}`) || this.cut.has(`${m.to}>${m.from}`)) continue;
        this.nodes.get(m.to)?.step(m, this.now);
      }
    }
    throw new Error('no quiescence');
  }
  /** Moves time forward in steps, ticking every node and settling. */
  advance(ms: number, step = 10): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.now = Math.min(end, this.now + step);
      for (const n of this.nodes.values()) n.tick(this.now);
      this.settle();
    }
  }
  leader(): string | undefined {
    return [...this.nodes.values()].find((n) => n.status().role === 'leader')?.id;
  }
  elect(id: string): void {
    // Everyone is sticky for a window after start; then `id` campaigns first.
    this.now = this.get(id).nextDeadline();
    this.get(id).tick(this.now);
    this.settle();
    expect(this.leader()).toBe(id);
  }
}

const entry = (index: number, term: number, kind: Entry['kind'] = 'normal'): Entry => ({
  index,
  term,
  kind,
  data: kind === 'noop' ? new Uint8Array() : new Uint8Array([index]),
});

describe('raft: elections, PreVote and stickiness', () => {
  it('a node whose timer fires asks for PRE-votes at term+1 without raising its own term', () => {
    const a = node('a');
    const at = a.nextDeadline();
    expect(at).toBeGreaterThanOrEqual(STICKY);
    expect(at).toBeLessThan(STICKY + ET);
    a.tick(at);
    const r = drain(a, at);
    expect(a.status()).toMatchObject({ role: 'precandidate', term: 0 });
    expect(r.messages.map((m) => [m.type, m.to, m.term])).toEqual([
      ['prevote', 'b', 1],
      ['prevote', 'c', 1],
    ]);
    expect(r.hardState).toBeUndefined();
  });

  it('a majority of prevote refusals ends the pre-campaign without touching the term', () => {
    const a = node('a');
    const at = a.nextDeadline();
    a.tick(at);
    drain(a, at);
    for (const from of ['b', 'c']) a.step({ type: 'prevoteResp', from, to: 'a', term: 0, reject: true }, at + 1);
    expect(a.status()).toMatchObject({ role: 'follower', term: 0 });
  });

  it('a majority of prevotes starts the real election; the win appends a noop at the new term', () => {
    const net = new Net();
    net.elect('a');
    const s = net.get('a').status();
    expect(s).toMatchObject({ role: 'leader', term: 1, commit: 1, token: 1 });
    expect(net.log.filter((m) => m.type === 'vote').every((m) => m.term === 1)).toBe(true);
    expect(net.get('b').status()).toMatchObject({ role: 'follower', leader: 'a', term: 1, token: 1 });
  });

  it('grants one vote per term and persists it in the same Ready as the grant', () => {
    const c = node('c');
    const now = STICKY + 1;
    const vote = (from: string): RaftMessage => ({
      type: 'vote',
      from,
      to: 'c',
      term: 1,
      lastIndex: 0,
      lastTerm: 0,
      transfer: false,
    });
    c.step(vote('a'), now);
    const r = c.ready();
    expect(r.hardState).toEqual({ term: 1, vote: 'a', commit: 0 });
    expect(r.messages).toEqual([{ type: 'voteResp', from: 'c', to: 'a', term: 1, reject: false }]);
    c.advance(r, now);
    c.step(vote('b'), now);
    expect(drain(c, now).messages).toEqual([{ type: 'voteResp', from: 'c', to: 'b', term: 1, reject: true }]);
  });

  it('refuses a candidate whose log is less up to date (last term, then length)', () => {
    const storage: RaftStorage = {
      hardState: { term: 2, vote: undefined, commit: 0 },
      entries: [entry(1, 1), entry(2, 2)],
    };
    const c = node('c', 0, { storage });
    const now = STICKY + 1;
    const ask = (lastIndex: number, lastTerm: number): boolean => {
      c.step({ type: 'prevote', from: 'a', to: 'c', term: 3, lastIndex, lastTerm, transfer: false }, now);
      const m = drain(c, now).messages[0]!;
      return m.type === 'prevoteResp' && !m.reject;
    };
    expect(ask(5, 1)).toBe(false); // longer but older last term
    expect(ask(1, 2)).toBe(false); // same last term, shorter
    expect(ask(2, 2)).toBe(true);
    expect(ask(1, 3)).toBe(true);
    expect(c.status().term).toBe(2); // prevotes never move the term
  });

  it('leader stickiness: a voter that heard the leader within its window ignores (pre)votes, term untouched', () => {
    const net = new Net();
    net.elect('a');
    const b = net.get('b');
    const heardAt = net.now;
    for (const type of ['prevote', 'vote'] as const) {
      b.step({ type, from: 'c', to: 'b', term: 5, lastIndex: 99, lastTerm: 4, transfer: false }, heardAt + STICKY - 1);
      expect(drain(b, heardAt + STICKY - 1).messages).toEqual([]);
      expect(b.status()).toMatchObject({ term: 1, leader: 'a' });
    }
    // After the window a prevote is answered (and granted: the asker's log is ahead).
    b.step(
      { type: 'prevote', from: 'c', to: 'b', term: 5, lastIndex: 99, lastTerm: 4, transfer: false },
      heardAt + STICKY + 1,
    );
    expect(drain(b, heardAt + STICKY + 1).messages).toMatchObject([{ type: 'prevoteResp', reject: false }]);
  });

  it('a node back from a partition does not depose a healthy leader (PreVote + stickiness)', () => {
    const net = new Net();
    net.elect('a');
    net.cut.add('c>a').add('c>b');
    net.advance(10 * ET);
    const c = net.get('c');
    expect(c.status().term).toBe(1); // its failed prevotes never raised its term
    expect(c.status().role).toBe('precandidate');
    expect(net.get('a').status()).toMatchObject({ role: 'leader', term: 1 });
    net.cut.clear();
    net.advance(3 * ET);
    expect(net.get('a').status()).toMatchObject({ role: 'leader', term: 1 });
    expect(c.status()).toMatchObject({ role: 'follower', leader: 'a', term: 1 });
  });

  it('a restarted node stays sticky for a full window (it may have acked a lease just before the crash)', () => {
    const storage: RaftStorage = { hardState: { term: 1, vote: 'a', commit: 1 }, entries: [entry(1, 1, 'noop')] };
    const c = node('c', 5000, { storage });
    c.step(
      { type: 'prevote', from: 'b', to: 'c', term: 2, lastIndex: 1, lastTerm: 1, transfer: false },
      5000 + STICKY - 1,
    );
    expect(drain(c, 5000 + STICKY - 1).messages).toEqual([]);
    expect(c.nextDeadline()).toBeGreaterThanOrEqual(5000 + STICKY);
  });

  it('a node outside the configuration never campaigns', () => {
    const d = node('d', 0, { voters: [] });
    d.tick(10 * ET);
    expect(drain(d, 10 * ET).messages).toEqual([]);
    expect(d.status().role).toBe('follower');
  });
});

describe('raft: CheckQuorum and the lease', () => {
  it('the lease runs electionTimeout*(1-drift) from the SEND of the acknowledged round', () => {
    const net = new Net();
    net.elect('a');
    const a = net.get('a');
    const sentAt = net.now; // the election's appends were sent and acked at this instant
    expect(a.leaseValidUntil(net.now)).toBe(sentAt + LEASE);
    // Acks that arrive late still count from the round's send time.
    const before = net.now;
    net.cut.add('a>b').add('a>c');
    net.advance(300);
    expect(a.leaseValidUntil(net.now)).toBe(before + LEASE);
    net.cut.clear();
    net.advance(150);
    expect(a.leaseValidUntil(net.now)!).toBeGreaterThan(before + LEASE);
  });

  it('no lease before the noop commits (the token is unknown)', () => {
    const a = node('a');
    const now = STICKY + 1;
    a.tick(a.nextDeadline());
    // Win prevote and vote by hand, then ack nothing: leader without a committed noop.
    a.step({ type: 'prevoteResp', from: 'b', to: 'a', term: 1, reject: false }, now + 1000);
    a.step({ type: 'voteResp', from: 'b', to: 'a', term: 1, reject: false }, now + 1000);
    expect(a.status().role).toBe('leader');
    expect(a.leaseValidUntil(now + 1000)).toBeUndefined();
  });

  it('a leader that hears no majority steps down on its own when its lease ends (CheckQuorum)', () => {
    const net = new Net();
    net.elect('a');
    const a = net.get('a');
    const lastAckedRound = net.now;
    net.cut.add('a>b').add('a>c');
    while (a.status().role === 'leader' && net.now < lastAckedRound + 2 * ET) net.advance(1, 1);
    expect(a.status()).toMatchObject({ role: 'follower', leader: undefined, term: 1 });
    expect(net.now).toBeGreaterThanOrEqual(lastAckedRound + LEASE);
    expect(net.now).toBeLessThanOrEqual(lastAckedRound + LEASE + 1);
  });

  it('one voter is enough when it is the whole group', () => {
    const solo = new RaftNode(
      {
        id: 's',
        voters: ['s'],
        electionTimeoutMs: ET,
        heartbeatMs: 100,
        maxClockDrift: DRIFT,
        random: { next: () => 0.5 },
      },
      0,
    );
    solo.tick(solo.nextDeadline());
    drain(solo, solo.nextDeadline());
    expect(solo.status()).toMatchObject({ role: 'leader', commit: 1 });
    expect(solo.leaseValidUntil(2000)).toBe(2000 + LEASE);
  });
});

describe('raft: log replication', () => {
  it('rejects an append whose previous entry does not match, with a hint that skips the conflicting term', () => {
    const storage: RaftStorage = {
      hardState: { term: 3, vote: undefined, commit: 1 },
      entries: [entry(1, 1), entry(2, 3), entry(3, 3), entry(4, 3)],
    };
    const b = node('b', 0, { storage });
    // The leader's index 4 is from term 2: everything b holds from term 3 must go; 1 is the probe.
    b.step(appendToB({ term: 4, prevIndex: 4, prevTerm: 2, entries: [], commit: 1, ctx: 7 }), 1);
    expect(drain(b, 1).messages).toEqual([
      { type: 'appendResp', from: 'b', to: 'a', term: 4, reject: true, index: 4, hint: 1, ctx: 7 },
    ]);
  });

  it('truncates a conflicting suffix and hands the replacement to the Ready with its acknowledgement', () => {
    const storage: RaftStorage = {
      hardState: { term: 2, vote: undefined, commit: 1 },
      entries: [entry(1, 1), entry(2, 2), entry(3, 2)],
    };
    const b = node('b', 0, { storage });
    b.step(appendToB({ term: 3, entries: [entry(2, 3), entry(3, 3), entry(4, 3)], commit: 3, ctx: 9 }), 1);
    const r = b.ready();
    // The fsync-before-send contract: the entries and the ack that covers them travel together.
    expect(r.entries.map((e) => [e.index, e.term])).toEqual([
      [2, 3],
      [3, 3],
      [4, 3],
    ]);
    expect(r.messages).toEqual([
      { type: 'appendResp', from: 'b', to: 'a', term: 3, reject: false, index: 4, hint: 0, ctx: 9 },
    ]);
    // Commit is min(leader's commit, last new entry).
    expect(r.hardState).toEqual({ term: 3, vote: undefined, commit: 3 });
    // After a restart everything committed is re-applied from the start (no snapshot here).
    expect(r.committed.map((e) => [e.index, e.term])).toEqual([
      [1, 1],
      [2, 3],
      [3, 3],
    ]);
  });

  it('never truncates a committed entry (a bad leader is refused, not obeyed)', () => {
    const storage: RaftStorage = {
      hardState: { term: 2, vote: undefined, commit: 2 },
      entries: [entry(1, 1), entry(2, 2)],
    };
    const b = node('b', 0, { storage });
    b.step(appendToB({ term: 3, entries: [entry(2, 3)], commit: 2, ctx: 1 }), 1);
    // prevIndex below commit: answered with the commit, nothing replaced.
    const r = drain(b, 1);
    expect(r.entries).toEqual([]);
    expect(r.messages).toMatchObject([{ type: 'appendResp', reject: false, index: 2 }]);
  });

  it('commits only an entry of its own term by counting replicas (Figure 8)', () => {
    // a leads term 3 over a log whose index 2 is from term 2.
    const storage = (commit: number): RaftStorage => ({
      hardState: { term: 2, vote: undefined, commit },
      entries: [entry(1, 1), entry(2, 2)],
    });
    const a = node('a', 0, { storage: storage(1) });
    const now = STICKY + 1;
    a.tick(a.nextDeadline());
    a.step({ type: 'prevoteResp', from: 'b', to: 'a', term: 3, reject: false }, now);
    a.step({ type: 'voteResp', from: 'b', to: 'a', term: 3, reject: false }, now);
    drain(a, now);
    expect(a.status()).toMatchObject({ role: 'leader', term: 3, lastIndex: 3 });
    // b acknowledges index 2 only: a majority holds the term-2 entry, but it is not committed.
    a.step({ type: 'appendResp', from: 'b', to: 'a', term: 3, reject: false, index: 2, hint: 0, ctx: now }, now);
    drain(a, now);
    expect(a.status().commit).toBe(1);
    // Once the term-3 noop is on a majority, everything up to it commits.
    a.step({ type: 'appendResp', from: 'b', to: 'a', term: 3, reject: false, index: 3, hint: 0, ctx: now }, now);
    expect(drain(a, now).committed.map((e) => e.index)).toEqual([2, 3]);
  });

  it('the leader counts itself toward a commit only after its own fsync (advance)', () => {
    const net = new Net();
    net.elect('a');
    const a = net.get('a');
    const p = a.propose(new Uint8Array([1]), net.now);
    expect(p).toEqual({ ok: true, index: 2 });
    const r = a.ready(); // not yet advanced: the entry is not durable on the leader
    for (const m of r.messages) net.get(m.to).step(m, net.now);
    for (const id of ['b', 'c']) {
      const acks = drain(net.get(id), net.now).messages;
      // Only b's ack is delivered: b + the leader would be a majority, if the leader counted itself.
      if (id === 'b') for (const m of acks) a.step(m, net.now);
    }
    expect(a.status().commit).toBe(1);
    a.advance(r, net.now);
    expect(a.status().commit).toBe(2);
  });

  it('a follower refuses a proposal (the integration forwards it)', () => {
    const net = new Net();
    net.elect('a');
    expect(net.get('b').propose(new Uint8Array([1]), net.now)).toEqual({ ok: false, reason: 'not-leader' });
  });
});

describe('raft: snapshots', () => {
  it('a lagging follower gets the snapshot and installs it through the Ready', () => {
    const net = new Net();
    net.elect('a');
    net.cut.add('a>c');
    for (let i = 0; i < 5; i++) net.get('a').propose(new Uint8Array([i]), net.now);
    net.settle();
    const a = net.get('a');
    expect(a.status().commit).toBe(6);
    expect(a.compact(6, new Uint8Array([42]))).toBe(true);
    const compacted = drain(a, net.now).readies.find((r) => r.compacted)?.compacted;
    expect(compacted).toMatchObject({ index: 6, term: 1, voters: VOTERS, token: 1 });
    net.cut.clear();
    const c = net.get('c');
    net.advance(200);
    const snapMsg = net.log.find((m) => m.type === 'snapshot');
    expect(snapMsg).toBeDefined();
    expect(c.status()).toMatchObject({ commit: 6, applied: 6, lastIndex: 6, token: 1 });
  });

  it('refuses to compact past what was applied', () => {
    const net = new Net();
    net.elect('a');
    expect(net.get('a').compact(5, new Uint8Array())).toBe(false);
  });
});

describe('raft: configuration changes', () => {
  it('adds a voter with one config entry; one change at a time', () => {
    const net = new Net();
    net.elect('a');
    net.nodes.set('d', node('d', net.now, { voters: [] }));
    const a = net.get('a');
    const r = a.proposeConfChange({ add: 'd' }, net.now);
    expect(r.ok).toBe(true);
    expect(a.status().voters).toEqual(['a', 'b', 'c', 'd']); // in force once appended
    expect(a.proposeConfChange({ remove: 'b' }, net.now)).toEqual({ ok: false, reason: 'config-pending' });
    net.advance(300);
    expect(net.get('d').status()).toMatchObject({ voters: ['a', 'b', 'c', 'd'], leader: 'a' });
    expect(a.status().commit).toBeGreaterThanOrEqual(2);
  });

  it('never makes a change that knowingly loses quorum', () => {
    const net = new Net();
    net.elect('a');
    net.cut.add('a>c').add('c>a');
    net.advance(ET + 100);
    const a = net.get('a');
    expect(a.status().role).toBe('leader'); // b keeps it
    // Adding d to {a, b, c} with c silent: 2 of 4 is not a majority of the new configuration.
    expect(a.proposeConfChange({ add: 'd' }, net.now)).toEqual({ ok: false, reason: 'would-lose-quorum' });
    // Removing b (alive) would leave {a, c} with c silent.
    expect(a.proposeConfChange({ remove: 'b' }, net.now)).toEqual({ ok: false, reason: 'would-lose-quorum' });
    // Removing the silent c is fine.
    expect(a.proposeConfChange({ remove: 'c' }, net.now).ok).toBe(true);
  });

  it('a leader that removes itself steps down once the removal commits', () => {
    const net = new Net();
    net.elect('a');
    const a = net.get('a');
    expect(a.proposeConfChange({ remove: 'a' }, net.now).ok).toBe(true);
    net.settle();
    expect(a.status()).toMatchObject({ role: 'follower', voters: ['b', 'c'] });
    net.advance(4 * ET);
    expect(['b', 'c']).toContain(net.leader());
  });

  it('a config entry reverts when a conflicting leader truncates it', () => {
    const storage: RaftStorage = {
      hardState: { term: 2, vote: undefined, commit: 1 },
      entries: [entry(1, 1), { index: 2, term: 2, kind: 'config', data: encodeConfig(['a', 'b']) }],
    };
    const b = node('b', 0, { storage });
    expect(b.status().voters).toEqual(['a', 'b']);
    b.step(appendToB({ from: 'c', term: 3, entries: [entry(2, 3)], commit: 1, ctx: 1 }), 1);
    expect(b.status().voters).toEqual(VOTERS);
  });
});

describe('raft: leadership transfer', () => {
  it('ends the lease at once, sends TimeoutNow to a caught-up target, and the target wins past stickiness', () => {
    const net = new Net();
    net.elect('a');
    const a = net.get('a');
    const r = a.transferLeadership('b', net.now);
    expect(r).toEqual({ ok: true });
    expect(a.leaseValidUntil(net.now)).toBeUndefined();
    expect(a.status().role).toBe('follower'); // stepped down as it sent TimeoutNow
    net.settle();
    expect(net.leader()).toBe('b');
    expect(net.get('b').status().term).toBe(2);
    const campaign = net.log.filter((m) => m.type === 'vote' && m.from === 'b');
    expect(campaign.every((m) => m.type === 'vote' && m.transfer)).toBe(true);
    // c heard a a moment ago and still voted: the transfer flag bypasses stickiness.
    expect(net.log.some((m) => m.type === 'voteResp' && m.from === 'c' && !m.reject)).toBe(true);
  });

  it('waits for the target to catch up, and refuses proposals meanwhile', () => {
    const net = new Net();
    net.elect('a');
    net.cut.add('a>c');
    const a = net.get('a');
    a.propose(new Uint8Array([1]), net.now);
    net.settle();
    expect(a.transferLeadership('c', net.now)).toEqual({ ok: true });
    expect(a.status()).toMatchObject({ role: 'leader', transferee: 'c' });
    expect(a.propose(new Uint8Array([2]), net.now)).toEqual({ ok: false, reason: 'transferring' });
    net.cut.clear();
    net.advance(200);
    expect(net.leader()).toBe('c');
  });

  it('gives up after an election timeout and resumes the lease', () => {
    const net = new Net();
    net.elect('a');
    net.cut.add('a>c').add('c>a');
    const a = net.get('a');
    a.propose(new Uint8Array([1]), net.now);
    net.settle();
    a.transferLeadership('c', net.now);
    net.advance(ET + 50);
    expect(a.status()).toMatchObject({ role: 'leader', term: 1 });
    expect(a.status().transferee).toBeUndefined();
    expect(a.leaseValidUntil(net.now)).toBeDefined();
  });
});

describe('raft: ReadIndex', () => {
  it('a leader with a lease answers at once with its commit index', () => {
    const net = new Net();
    net.elect('a');
    const a = net.get('a');
    expect(a.readIndex('r1', net.now)).toEqual({ ok: true });
    expect(drain(a, net.now).readStates).toEqual([{ id: 'r1', index: 1 }]);
  });

  it('without a lease it waits for a majority to ack a round sent after the request', () => {
    const net = new Net();
    net.elect('a');
    const a = net.get('a');
    // A transfer to an unreachable target suspends the lease while a stays leader.
    net.cut.add('a>c').add('c>a');
    a.propose(new Uint8Array([1]), net.now);
    net.settle();
    a.transferLeadership('c', net.now);
    expect(a.leaseValidUntil(net.now)).toBeUndefined();
    const t = net.now + 5;
    expect(a.readIndex('r1', t)).toEqual({ ok: true });
    const r = a.ready();
    expect(r.readStates).toEqual([]); // not yet: a heartbeat round went out instead
    const round = r.messages.filter((m) => m.type === 'heartbeat');
    expect(round.map((m) => [m.to, m.type === 'heartbeat' && m.ctx])).toEqual([
      ['b', t],
      ['c', t],
    ]);
    a.advance(r, t);
    // An ack of an OLDER round does not release it.
    a.step({ type: 'heartbeatResp', from: 'b', to: 'a', term: 1, ctx: t - 1 }, t + 1);
    expect(drain(a, t + 1).readStates).toEqual([]);
    a.step({ type: 'heartbeatResp', from: 'b', to: 'a', term: 1, ctx: t }, t + 2);
    expect(drain(a, t + 2).readStates).toEqual([{ id: 'r1', index: 2 }]);
  });

  it('a round sent at the very instant of the request (before it) does not confirm it', () => {
    const net = new Net();
    net.elect('a');
    const a = net.get('a');
    net.cut.add('a>c').add('c>a');
    a.propose(new Uint8Array([1]), net.now); // a round at net.now, acked by b
    net.settle();
    a.transferLeadership('c', net.now);
    a.readIndex('r1', net.now);
    expect(drain(a, net.now).readStates).toEqual([]);
    expect(a.nextDeadline()).toBe(net.now + 1);
    net.advance(1, 1);
    expect(net.log.filter((m) => m.type === 'heartbeat' && m.ctx === net.now).length).toBe(2);
  });

  it('refuses before the noop of its term commits, and once CheckQuorum stepped it down', () => {
    const net = new Net();
    net.elect('a');
    const a = net.get('a');
    net.cut.add('a>b').add('a>c');
    net.advance(LEASE + 1, 1);
    expect(a.readIndex('r0', net.now)).toEqual({ ok: false, reason: 'no-leader' });
  });

  it('a follower forwards the read to the leader and gets the index back', () => {
    const net = new Net();
    net.elect('a');
    const b = net.get('b');
    expect(b.readIndex('r2', net.now)).toEqual({ ok: true });
    const msgs = drain(b, net.now).messages;
    expect(msgs).toMatchObject([{ type: 'readIndex', to: 'a', id: 'r2' }]);
    net.get('a').step(msgs[0]!, net.now);
    const back = drain(net.get('a'), net.now).messages.filter((m) => m.type === 'readIndexResp');
    expect(back).toMatchObject([{ type: 'readIndexResp', to: 'b', id: 'r2', index: 1 }]);
    b.step(back[0]!, net.now);
    expect(drain(b, net.now).readStates).toEqual([{ id: 'r2', index: 1 }]);
  });
});
