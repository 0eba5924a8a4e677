// Serf's query protocol and the key rotation built on it, between several SerfQueries/KeyManager
// instances. They are sans-I/O: the "network" here hands each encoded Serf message to the other
// instances through the real codec, synchronously, and the timers are a list the test fires. The
// same code against real Serf agents runs in test/integration/serf-interop.test.ts.

import { decodeSerfMessage, encodeQueryFilter, encodeSerfMessage, Keyring, SerfQueryFlag } from '@vigil/protocol';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { DataDir } from '../src/data-dir/data-dir.ts';
import type { Address } from '../src/membership/address.ts';
import { KeyManager } from '../src/membership/key-manager.ts';
import { SerfCompat } from '../src/membership/serf-compat.ts';
import { SerfQueries } from '../src/membership/serf-queries.ts';

const log = pino({ level: 'silent' });
const key = (fill: number) => new Uint8Array(32).fill(fill);

interface Node {
  readonly name: string;
  readonly addr: Address;
  readonly queries: SerfQueries;
  /** Serf messages this node queued for gossip, by broadcast key. */
  readonly gossip: Map<string, Uint8Array>;
  readonly sent: { to: Address; payload: Uint8Array }[];
  tags: Record<string, string>;
}

/** Nodes that deliver gossip on demand and direct messages at once, through the real codec. */
class Net {
  readonly nodes: Node[] = [];
  readonly timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  down = new Set<string>();
  /** Nodes that gossip never reaches (direct datagrams still do). */
  missedByGossip = new Set<string>();
  dropAnswersFrom = new Set<string>();

  add(name: string): Node {
    const addr = { host: '127.0.0.1', port: 7000 + this.nodes.length };
    const gossip = new Map<string, Uint8Array>();
    const sent: Node['sent'] = [];
    const node: Node = {
      name,
      addr,
      gossip,
      sent,
      tags: {},
      queries: new SerfQueries({
        name,
        tags: () => node.tags,
        address: () => addr,
        aliveMembers: () => this.nodes.map((n) => n.name),
        addressOf: (member) => this.nodes.find((n) => n.name === member)?.addr,
        gossipIntervalMs: 200,
        broadcast: (payload, k) => gossip.set(k, payload),
        sendTo: (to, payload) => {
          sent.push({ to, payload });
          // A lost datagram: the direct answers of nodes in dropAnswersFrom.
          if (this.dropAnswersFrom.has(name) && decodeSerfMessage(payload).type === 'queryResponse') return;
          this.deliver(to, payload);
        },
        relayTargets: (k) =>
          this.nodes
            .filter((n) => n.name !== name)
            .slice(0, k)
            .map((n) => n.addr),
        now: () => 0,
        setTimer: (ms, fn) => {
          const t = { at: ms, fn, cancelled: false };
          this.timers.push(t);
          return { cancel: () => (t.cancelled = true) };
        },
      }),
    };
    this.nodes.push(node);
    return node;
  }

  /** One gossip round: every queued message reaches every other live node. */
  spread(): void {
    for (let round = 0; round < 5; round++) {
      for (const from of this.nodes) {
        const queued = [...from.gossip.values()];
        from.gossip.clear();
        for (const payload of queued) {
          for (const to of this.nodes) {
            if (to !== from && !this.down.has(to.name) && !this.missedByGossip.has(to.name)) this.receive(to, payload);
          }
        }
      }
    }
  }

  /** Fires the timers due by `untilMs` (all by default), earliest first. */
  fireTimers(untilMs = Number.POSITIVE_INFINITY): void {
    const due = this.timers.filter((t) => t.at <= untilMs).sort((x, y) => x.at - y.at);
    for (const t of due) {
      this.timers.splice(this.timers.indexOf(t), 1);
      if (!t.cancelled) t.fn();
    }
  }

  private deliver(to: Address, payload: Uint8Array): void {
    const node = this.nodes.find((n) => n.addr.port === to.port);
    if (node && !this.down.has(node.name)) this.receive(node, payload);
  }

  private receive(node: Node, payload: Uint8Array): void {
    const msg = decodeSerfMessage(payload);
    if (msg.type === 'query') node.queries.onQuery(msg, payload);
    else if (msg.type === 'queryResponse') node.queries.onResponse(msg);
    else if (msg.type === 'relay') node.queries.onRelay(msg);
  }
}

/** Lets the handlers' promises (key persistence) settle. */
async function settle(net: Net): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 5));
    net.spread();
  }
}

describe('Serf queries', () => {
  it('answer a ping with an ack, re-gossip a query once, and collect the answers', async () => {
    const net = new Net();
    const [a, b, c] = ['a', 'b', 'c'].map((n) => net.add(n)) as [Node, Node, Node];
    const pending = a.queries.query('_serf_ping', new Uint8Array(0), { requestAck: true });
    // a answered itself first (as Serf does) and queued the query for gossip.
    expect(a.gossip.size).toBe(1);
    const [raw] = [...a.gossip.values()];
    const asked = decodeSerfMessage(raw!) as { ltime: number; id: number };
    // An answer carrying the query's time but another id is someone else's: counted, not kept.
    const stray = {
      type: 'queryResponse' as const,
      ltime: asked.ltime,
      id: asked.id ^ 1,
      from: 'x',
      flags: 1,
      payload: new Uint8Array(0),
    };
    a.queries.onResponse(stray);
    expect(a.queries.drops['stray-response']).toBe(1);
    net.spread();
    // Each node acked exactly once, and re-gossiped its first copy only.
    const acks = [a, b, c].map((n) => n.sent.filter((s) => s.to.port === a.addr.port).length);
    expect(acks).toEqual([1, 1, 1]);
    net.fireTimers();
    const result = await pending;
    expect([...result.acks].sort()).toEqual(['a', 'b', 'c']);
    expect(result.responses.size).toBe(0); // ping has no response body
    // A late answer to the finished query, from a member that never answered, is counted too;
    // a second copy of an answer we had (a relayed duplicate) is not.
    a.queries.onResponse({ ...stray, id: asked.id, from: 'late' });
    expect(a.queries.drops['stray-response']).toBe(2);
    a.queries.onResponse({ ...stray, id: asked.id, from: 'b' });
    expect(a.queries.drops['stray-response']).toBe(2);
  });

  it('with a relay factor, an answer whose datagram is lost still arrives through another member', async () => {
    const net = new Net();
    const [a, b, c] = ['a', 'b', 'c'].map((n) => net.add(n)) as [Node, Node, Node];
    a.queries.handle('_serf_echo', (p) => p);
    b.queries.handle('_serf_echo', (p) => p);
    c.queries.handle('_serf_echo', (p) => p);
    net.dropAnswersFrom.add('c');
    const pending = a.queries.query('_serf_echo', Uint8Array.from([1, 2]), { relayFactor: 1 });
    net.spread();
    const result = await pending;
    // Early finish: all three answered, c's only through a relay; duplicates counted once.
    expect([...result.responses.keys()].sort()).toEqual(['a', 'b', 'c']);
    expect(result.responses.get('c')).toEqual(Uint8Array.from([1, 2]));
    const relayed = c.sent.filter((s) => decodeSerfMessage(s.payload).type === 'relay');
    expect(relayed.length).toBe(1);
    // The relayed copies of b's answer landed after the query ended: expected, not strays.
    expect(a.queries.drops['stray-response']).toBe(0);
  });

  it('asks a member that gossip missed once more, directly, at half the timeout', async () => {
    const net = new Net();
    const [a, b, c] = ['a', 'b', 'c'].map((n) => net.add(n)) as [Node, Node, Node];
    for (const n of [a, b, c]) n.queries.handle('_serf_echo', (p) => p);
    net.missedByGossip.add('c');
    const timeoutMs = 1000;
    const pending = a.queries.query('_serf_echo', Uint8Array.from([7]), { timeoutMs, reask: true });
    net.spread();
    await new Promise((r) => setImmediate(r));
    // c has not heard of it, b has answered; nothing sent to c yet.
    const toC = () => a.sent.filter((s) => s.to.port === c.addr.port).length;
    expect(toC()).toBe(0);
    net.fireTimers(timeoutMs / 2);
    await new Promise((r) => setImmediate(r));
    // Only the member still owed an answer is asked (not b, not a itself), and it answers.
    expect(toC()).toBe(1);
    expect(a.sent.filter((s) => s.to.port === b.addr.port)).toHaveLength(0);
    const result = await pending;
    expect(result.unanswered).toEqual([]);
    expect([...result.responses.keys()].sort()).toEqual(['a', 'b', 'c']);
    // The direct copy and a late gossip copy are one query to c: it answers once.
    net.missedByGossip.clear();
    const answersFromC = () => c.sent.filter((s) => decodeSerfMessage(s.payload).type === 'queryResponse').length;
    const before = answersFromC();
    a.gossip.set('again', a.sent.find((s) => s.to.port === c.addr.port)!.payload);
    net.spread();
    expect(answersFromC()).toBe(before);
    expect(net.timers.filter((t) => !t.cancelled)).toHaveLength(0);

    // Everyone answers at once: the query ends early and neither of its timers is left armed.
    const quick = await (async () => {
      const q = a.queries.query('_serf_echo', Uint8Array.from([8]), { timeoutMs, reask: true });
      net.spread();
      return q;
    })();
    expect(quick.unanswered).toEqual([]);
    expect(net.timers.filter((t) => !t.cancelled)).toHaveLength(0);
    // Without reask (the default), a member gossip missed is not asked again.
    net.missedByGossip.add('c');
    const sentToC = toC();
    const plain = a.queries.query('_serf_echo', Uint8Array.from([9]), { timeoutMs });
    net.spread();
    await new Promise((r) => setImmediate(r));
    net.fireTimers();
    expect((await plain).unanswered).toEqual(['c']);
    expect(toC()).toBe(sentToC);
  });

  it('drop Lamport times that would overflow the clocks, and keep working', () => {
    const net = new Net();
    const a = net.add('a');
    const compat = new SerfCompat('a', () => {}, a.queries);
    const huge = Number.MAX_SAFE_INTEGER - 1;
    compat.notifyUser(encodeSerfMessage({ type: 'join', ltime: huge, node: 'evil' }));
    compat.mergeRemoteState(
      encodeSerfMessage({
        type: 'pushPull',
        ltime: 1,
        statusLTimes: new Map(),
        leftMembers: [],
        eventLTime: 0,
        events: [],
        queryLTime: huge,
      }),
    );
    expect(compat.malformed).toBe(2);
    // Both clocks still encode; before, the next push/pull threw past 2^53.
    expect(() => compat.localState()).not.toThrow();
    expect(a.queries.time()).toBe(0);
    void a.queries.query('_serf_ping', new Uint8Array(0));
    expect(a.queries.time()).toBe(1);
    a.queries.close();
  });

  it('honour node and tag filters, the no-broadcast flag, replays and relays', async () => {
    const net = new Net();
    const [a, b, c] = ['a', 'b', 'c'].map((n) => net.add(n)) as [Node, Node, Node];
    c.tags = { role: 'web-frontend' };
    const query = (ltime: number, filters: Uint8Array[], flags: number = SerfQueryFlag.ack) => {
      const q = {
        type: 'query' as const,
        ltime,
        id: ltime + 100,
        addr: Uint8Array.from([127, 0, 0, 1]),
        port: a.addr.port,
        sourceNode: 'a',
        filters,
        flags,
        relayFactor: 0,
        timeoutNs: 1e9,
        name: 'deploy',
        payload: new Uint8Array(0),
      };
      return { q, raw: encodeSerfMessage(q) };
    };
    const acksFrom = (n: Node) => n.sent.filter((s) => s.to.port === a.addr.port).length;

    const byName = query(1, [encodeQueryFilter({ type: 'nodes', nodes: ['c'] })]);
    b.queries.onQuery(byName.q, byName.raw);
    c.queries.onQuery(byName.q, byName.raw);
    expect([acksFrom(b), acksFrom(c)]).toEqual([0, 1]);
    expect(b.gossip.size).toBe(1); // not for b, but b still passes it on

    const byTag = query(2, [encodeQueryFilter({ type: 'tag', tag: 'role', expr: '^web-' })]);
    b.queries.onQuery(byTag.q, byTag.raw);
    c.queries.onQuery(byTag.q, byTag.raw);
    c.queries.onQuery(byTag.q, byTag.raw); // a duplicate is ignored
    expect([acksFrom(b), acksFrom(c)]).toEqual([0, 2]);

    // Patterns come from the network: a backtracking blow-up must not stall us (Serf uses RE2:
    // so do we, through RE2JS), and what RE2 refuses (backreferences) matches nothing.
    c.tags = { role: `${'a'.repeat(64)}!` };
    const evil = query(6, [encodeQueryFilter({ type: 'tag', tag: 'role', expr: '^(a+)+$' })]);
    c.queries.onQuery(evil.q, evil.raw);
    const backref = query(7, [encodeQueryFilter({ type: 'tag', tag: 'role', expr: '(a)\\1' })]);
    c.queries.onQuery(backref.q, backref.raw);
    expect(acksFrom(c)).toBe(2);
    c.tags = { role: 'aaaa' };
    const linear = query(8, [encodeQueryFilter({ type: 'tag', tag: 'role', expr: '^(a+)+$' })]);
    c.queries.onQuery(linear.q, linear.raw);
    expect(acksFrom(c)).toBe(3);
    // Go's syntax, which JavaScript's RegExp reads differently or refuses: a flag group, a Unicode
    // class without braces, a POSIX class, a counted repeat, \A and \z. Each one matches here; the
    // same expressions against another tag do not.
    const goSyntax = ['(?i)^WEB-', '^\\pL+-\\d$', '^[[:alpha:]]+-', '^(?:[a-z]|-|\\d){5}(?:x{17})?$', '\\Aweb-1\\z'];
    c.tags = { role: 'web-1' };
    goSyntax.forEach((expr, i) => {
      const q = query(20 + i, [encodeQueryFilter({ type: 'tag', tag: 'role', expr })]);
      c.queries.onQuery(q.q, q.raw);
    });
    expect(acksFrom(c)).toBe(3 + goSyntax.length);
    // A tag the member lacks is matched as the empty string, as Serf does.
    const absent = query(30, [encodeQueryFilter({ type: 'tag', tag: 'rack', expr: '^$' })]);
    c.queries.onQuery(absent.q, absent.raw);
    expect(acksFrom(c)).toBe(4 + goSyntax.length);
    c.tags = { role: '42' };
    goSyntax.forEach((expr, i) => {
      const q = query(40 + i, [encodeQueryFilter({ type: 'tag', tag: 'role', expr })]);
      c.queries.onQuery(q.q, q.raw);
    });
    expect(acksFrom(c)).toBe(4 + goSyntax.length);

    const quiet = query(3, [], SerfQueryFlag.ack | SerfQueryFlag.noBroadcast);
    const before = b.gossip.size;
    b.queries.onQuery(quiet.q, quiet.raw);
    expect(b.gossip.size).toBe(before);
    expect(acksFrom(b)).toBe(1);

    const garbled = query(4, [Uint8Array.from([9])]);
    b.queries.onQuery(garbled.q, garbled.raw);
    expect(acksFrom(b)).toBe(1);
    expect(b.queries.drops.malformed).toBe(1);

    // Far older than the query buffer (512 Lamport ticks): a replay.
    b.queries.witness(2000);
    const old = query(5, []);
    b.queries.onQuery(old.q, old.raw);
    expect(acksFrom(b)).toBe(1);
    expect(b.queries.drops.replayed).toBe(1);

    // A relay: b forwards the inner message to its destination untouched.
    const inner = encodeSerfMessage({
      type: 'queryResponse',
      ltime: 9,
      id: 9,
      from: 'c',
      flags: 0,
      payload: new Uint8Array(0),
    });
    b.queries.onRelay({
      type: 'relay',
      destAddr: Uint8Array.from([127, 0, 0, 1]),
      destPort: a.addr.port,
      destName: 'a',
      message: inner,
    });
    expect(b.sent.at(-1)).toEqual({ to: a.addr, payload: inner });
    b.queries.onRelay({ type: 'relay', destAddr: Uint8Array.from([1, 2]), destPort: 1, destName: 'a', message: inner });
    expect(b.queries.drops.malformed).toBe(2);

    // A handler that throws or rejects is a bug: counted, no answer, nothing escapes.
    b.queries.handle('_serf_throws', () => {
      throw new Error('bug');
    });
    b.queries.handle('_serf_rejects', () => Promise.reject(new Error('bug')));
    const sentBefore = b.sent.length;
    for (const [ltime, name] of [
      [2001, '_serf_throws'],
      [2002, '_serf_rejects'],
    ] as const) {
      const q = { ...query(ltime, [], 0).q, name };
      b.queries.onQuery(q, encodeSerfMessage(q));
    }
    await new Promise((r) => setImmediate(r));
    expect(b.queries.drops['handler-failed']).toBe(2);
    expect(b.sent.length).toBe(sentBefore);
  });
});

// The key operations across whole services (install, use, remove, timeouts, one at a time) run in
// virtual time over the in-memory gossip network: test/membership-sim-key-rotation.test.ts. This
// case needs a member without a keyring answering an encrypted one, which only a Serf agent with
// gossip_verify_incoming off does, so it stays on the sans-I/O queries.
describe('key queries', () => {
  it('answers key queries without a keyring with an error, as Serf does', async () => {
    const net = new Net();
    const plain = net.add('plain');
    new KeyManager({ queries: plain.queries, keyring: undefined, store: new DataDir('/nonexistent'), log });
    const asker = net.add('asker');
    const askerKeys = new KeyManager({
      queries: asker.queries,
      keyring: new Keyring(key(1)),
      store: new DataDir('/nonexistent'),
      log,
    });
    const p = askerKeys.run('list');
    await settle(net);
    const report = await p;
    expect(report.numErrors).toBe(1);
    expect(report.messages.plain).toMatch(/encryption not enabled/);
    await expect(
      new KeyManager({ queries: plain.queries, keyring: undefined, store: new DataDir('/x'), log }).run('list'),
    ).rejects.toThrow(/not enabled/);
  });
});
