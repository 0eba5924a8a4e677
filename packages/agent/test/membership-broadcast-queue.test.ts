import type { Message } from '@vigil/protocol';
import { describe, expect, it } from 'vitest';
import { BroadcastQueue } from '../src/membership/broadcast-queue.ts';

// memberlist's TransmitLimitedQueue semantics: fewest transmits first, newest first among equals,
// news about a node supersedes older news about it, and each broadcast goes out a bounded number
// of times.

const msg = (label: string): Message => ({ type: 'user', payload: new TextEncoder().encode(label) });
const labels = (messages: Message[]) =>
  messages.map((m) => (m.type === 'user' ? new TextDecoder().decode(m.payload) : m.type));
const ROOM = 10_000;

describe('BroadcastQueue', () => {
  it('sends the newest first among broadcasts sent equally often, and the least sent first', () => {
    const q = new BroadcastQueue();
    q.queue(msg('a'), 10);
    q.queue(msg('b'), 10);
    expect(labels(q.take(0, 10, 5))).toEqual(['b']); // room for one: the newest
    q.queue(msg('c'), 10);
    // a and c were never sent, b once: c (newest), a, then b.
    expect(labels(q.take(0, ROOM, 5))).toEqual(['c', 'a', 'b']);
  });

  it('fills a packet with what fits, skipping what does not', () => {
    const q = new BroadcastQueue();
    q.queue(msg('small-old'), 10);
    q.queue(msg('big'), 100);
    q.queue(msg('small-new'), 10);
    // 2 bytes of overhead each: small-new (12) fits, big (102) does not, small-old (12) does.
    expect(labels(q.take(2, 30, 5))).toEqual(['small-new', 'small-old']);
    // big still does not fit; the small ones go again, newest first still.
    expect(labels(q.take(2, 30, 5))).toEqual(['small-new', 'small-old']);
    // Once big fits it goes first: it has been sent the fewest times.
    expect(labels(q.take(2, 200, 5))).toEqual(['big', 'small-new', 'small-old']);
  });

  it('drops a broadcast once it has been sent transmitLimit times', () => {
    const q = new BroadcastQueue();
    q.queue(msg('x'), 10);
    q.queue(msg('y'), 10);
    for (let i = 0; i < 3; i++) expect(labels(q.take(0, ROOM, 3))).toEqual(['y', 'x']);
    expect(q.length()).toBe(0);
    expect(q.take(0, ROOM, 3)).toEqual([]);
  });

  it('replaces older news about the same node', () => {
    const q = new BroadcastQueue();
    q.queue(msg('suspect n1'), 10, 'n1');
    q.queue(msg('alive n2'), 10, 'n2');
    q.queue(msg('alive n1 (refuted)'), 10, 'n1');
    expect(q.length()).toBe(2);
    expect(labels(q.take(0, ROOM, 5))).toEqual(['alive n1 (refuted)', 'alive n2']);
    // An item already sent once is replaced as well.
    q.queue(msg('dead n2'), 10, 'n2');
    expect(labels(q.take(0, ROOM, 5))).toEqual(['dead n2', 'alive n1 (refuted)']);
  });

  it('keeps confirmations from different observers side by side, and drops them on news about the node', () => {
    const q = new BroadcastQueue();
    q.queue(msg('suspect n1 from a'), 10, 'n1');
    q.queue(msg('confirm n1 by b'), 10, 'n1\0b');
    q.queue(msg('confirm n1 by c'), 10, 'n1\0c');
    q.queue(msg('confirm n1 by b again'), 10, 'n1\0b');
    q.queue(msg('confirm n10 by b'), 10, 'n10\0b'); // another node whose name starts the same
    expect(q.length()).toBe(4);
    q.queue(msg('alive n1 (refuted)'), 10, 'n1');
    expect(labels(q.take(0, ROOM, 5))).toEqual(['alive n1 (refuted)', 'confirm n10 by b']);
    expect(q.length()).toBe(2);
  });

  it('never lets a keyless broadcast supersede another', () => {
    const q = new BroadcastQueue();
    q.queue(msg('user 1'), 10);
    q.queue(msg('user 2'), 10);
    q.queue(msg('alive n1'), 10, 'n1');
    expect(q.length()).toBe(3);
    expect(labels(q.take(0, ROOM, 5))).toEqual(['alive n1', 'user 2', 'user 1']);
  });

  it('stays correct with thousands queued (superseded items are compacted away)', () => {
    const q = new BroadcastQueue();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 2000; i++) q.queue(msg(`n${i} r${round}`), 50, `n${i}`);
    }
    expect(q.length()).toBe(2000);
    const first = labels(q.take(0, 200, 4));
    expect(first).toEqual(['n1999 r4', 'n1998 r4', 'n1997 r4', 'n1996 r4']);
    let sent = 4;
    for (let i = 0; i < 10_000 && q.length() > 0; i++) sent += q.take(0, 1000, 4).length;
    expect(sent).toBe(2000 * 4);
    expect(q.length()).toBe(0);
  });
});
