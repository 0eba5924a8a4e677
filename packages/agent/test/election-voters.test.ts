import { describe, expect, it } from 'vitest';
import {
  bootstrapper,
  desiredVoters,
  nextConfChange,
  rendezvousRank,
  type VoterMember,
} from '../src/election/voters.ts';

const alive = (name: string, zone = 'z1'): VoterMember => ({ name, status: 'alive', zone });
const dead = (name: string, zone = 'z1'): VoterMember => ({ name, status: 'dead', zone });
const cluster = (n: number, zones = 1) => Array.from({ length: n }, (_, i) => alive(`n${i}`, `z${i % zones}`));

describe('desiredVoters', () => {
  it('adds witnesses to a two-host pair to reach three voters', () => {
    const members = cluster(10);
    const voters = desiredVoters({ group: 'db', target: 3, candidates: ['n0', 'n1'], members });
    expect(voters).toHaveLength(3);
    expect(voters).toEqual(expect.arrayContaining(['n0', 'n1']));
  });

  it('is deterministic whatever the order of its inputs', () => {
    const members = cluster(12, 3);
    const a = desiredVoters({ group: 'db', target: 5, candidates: ['n3', 'n7'], members });
    const b = desiredVoters({
      group: 'db',
      target: 5,
      candidates: ['n7', 'n3', 'n7'],
      members: [...members].reverse(),
    });
    expect(a).toEqual(b);
    expect(a).toHaveLength(5);
  });

  it('spreads groups over the cluster (the rendezvous hash depends on the group)', () => {
    const members = cluster(30);
    const witnessSets = new Set(
      ['a', 'b', 'c', 'd', 'e', 'f'].map((g) => desiredVoters({ group: g, target: 3, candidates: [], members }).join()),
    );
    expect(witnessSets.size).toBeGreaterThan(1);
  });

  it('prefers witnesses in zones no voter is in', () => {
    // candidates in z0; members of z1 and z2 exist: the two witnesses come from z1 and z2
    const members = [
      alive('c1', 'z0'),
      alive('c2', 'z0'),
      ...cluster(9, 1).map((m) => ({ ...m, zone: 'z0' })),
      alive('x', 'z1'),
      alive('y', 'z2'),
    ];
    const voters = desiredVoters({ group: 'db', target: 4, candidates: ['c1', 'c2'], members });
    expect(voters).toHaveLength(5); // an even target is rounded up to odd
    expect(voters).toEqual(expect.arrayContaining(['c1', 'c2', 'x', 'y']));
  });

  it('never picks dead members, and keeps usable current witnesses', () => {
    const members = [...cluster(8), dead('d1'), dead('d2')];
    const first = desiredVoters({ group: 'g', target: 3, candidates: ['n0', 'd1'], members });
    expect(first).not.toContain('d1');
    expect(first).toContain('n0');
    // a current witness stays even if some other member ranks before it
    const current = ['n0', 'n5', 'n6'];
    expect(desiredVoters({ group: 'g', target: 3, candidates: ['n0'], members, current })).toEqual(current);
  });

  it('takes every usable candidate up to the maximum, odd', () => {
    const members = cluster(12);
    const candidates = members.slice(0, 4).map((m) => m.name);
    expect(desiredVoters({ group: 'g', target: 3, candidates, members })).toHaveLength(5);
  });
});

describe('bootstrapper', () => {
  it('is the usable candidate with the lowest rank', () => {
    const members = [alive('a'), alive('b'), dead('c')];
    const expected = ['a', 'b'].sort((x, y) => (rendezvousRank('g', x) < rendezvousRank('g', y) ? -1 : 1))[0];
    expect(bootstrapper('g', ['c', 'b', 'a'], members)).toBe(expected);
    expect(bootstrapper('g', ['c'], members)).toBeUndefined();
  });
});

describe('nextConfChange', () => {
  const base = { now: 100_000, graceMs: 30_000, leader: 'a' };

  it('waits out the grace before replacing a dead voter, then removes before adding', () => {
    const members = [alive('a'), alive('b'), dead('c'), alive('w')];
    const input = { ...base, current: ['a', 'b', 'c'], desired: ['a', 'b', 'w'], members };
    expect(nextConfChange({ ...input, deadSince: new Map([['c', 90_000]]) })).toBeUndefined();
    expect(nextConfChange({ ...input, deadSince: new Map([['c', 60_000]]) })).toEqual({ remove: 'c' });
    expect(nextConfChange({ ...input, current: ['a', 'b'], deadSince: new Map() })).toEqual({ add: 'w' });
  });

  it('never plans a change that loses quorum', () => {
    // two of three voters dead: removing one leaves {a, x} with one usable voter of two
    const members = [alive('a'), dead('b'), dead('c'), alive('w'), alive('v')];
    const deadSince = new Map([
      ['b', 0],
      ['c', 0],
    ]);
    const change = nextConfChange({ ...base, current: ['a', 'b', 'c'], desired: ['a', 'v', 'w'], members, deadSince });
    expect(change).toBeUndefined();
  });

  it('never removes the leader', () => {
    const members = [alive('a'), alive('b'), alive('c'), alive('d')];
    const change = nextConfChange({
      ...base,
      current: ['a', 'b', 'c', 'd'],
      desired: ['b', 'c', 'd'],
      members,
      deadSince: new Map(),
    });
    expect(change).toBeUndefined();
  });

  it('moves a full group one server at a time: grow, then shrink', () => {
    const members = [alive('a'), alive('b'), alive('c'), alive('d')];
    const deadSince = new Map<string, number>();
    const grow = nextConfChange({ ...base, current: ['a', 'b', 'c'], desired: ['a', 'b', 'd'], members, deadSince });
    expect(grow).toEqual({ add: 'd' });
    const shrink = nextConfChange({
      ...base,
      current: ['a', 'b', 'c', 'd'],
      desired: ['a', 'b', 'd'],
      members,
      deadSince,
    });
    expect(shrink).toEqual({ remove: 'c' });
    expect(
      nextConfChange({ ...base, current: ['a', 'b', 'd'], desired: ['a', 'b', 'd'], members, deadSince }),
    ).toBeUndefined();
  });

  it('a group left over its size by a changed target still reaches it (add, then shrink)', () => {
    // Seen in bench:election: two witnesses in, then the third candidate's record arrived.
    const members = [alive('a'), alive('b'), alive('c'), alive('w1'), alive('w2')];
    const deadSince = new Map<string, number>();
    const input = { ...base, desired: ['a', 'b', 'c'], members, deadSince };
    expect(nextConfChange({ ...input, current: ['a', 'b', 'w1', 'w2'] })).toEqual({ add: 'c' });
    expect(nextConfChange({ ...input, current: ['a', 'b', 'c', 'w1', 'w2'] })).toEqual({ remove: 'w1' });
    expect(nextConfChange({ ...input, current: ['a', 'b', 'c', 'w2'] })).toEqual({ remove: 'w2' });
    expect(nextConfChange({ ...input, current: ['a', 'b', 'c'] })).toBeUndefined();
    // at the largest group: shrink first, then there is room to add
    const seven = ['a', 'b', 'w1', 'w2', 'x', 'y', 'z'];
    const all = [...members, alive('x'), alive('y'), alive('z')];
    expect(nextConfChange({ ...input, members: all, current: seven })).toEqual({ remove: 'w1' });
    expect(nextConfChange({ ...input, members: all, current: seven.filter((n) => n !== 'w1') })).toEqual({
      add: 'c',
    });
  });

  it('treats a voter unknown to membership (reaped) as dead', () => {
    const members = [alive('a'), alive('b')];
    expect(
      nextConfChange({ ...base, current: ['a', 'b', 'gone'], desired: ['a', 'b'], members, deadSince: new Map() }),
    ).toEqual({
      remove: 'gone',
    });
  });
});
