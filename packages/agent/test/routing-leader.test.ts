import type { LeaderClaim, NodeRecord } from '@vigil/protocol';
import { describe, expect, it } from 'vitest';
import { inst, member, rec, route } from './routing-fixtures.ts';

const db = (id: string, o = {}) => inst(id, { service: 'db', policy: 'leader', voters: 3, ...o });
const leads = (r: NodeRecord, ...claims: LeaderClaim[]): NodeRecord => ({ ...r, leads: claims });
const claim = (token: number, term: number, instance?: string): LeaderClaim => ({ group: 'db', token, term, instance });

describe('policy leader', () => {
  it('routes everything to the leader instance and carries its token', () => {
    const records = [leads(rec('a', [db('a1')]), claim(7, 3, 'a1')), rec('b', [db('b1')])];
    const t = route(records).tables[0]!;
    expect(t.policy).toBe('leader');
    expect(t.leader).toEqual({ node: 'a', id: 'a1', token: 7, term: 3 });
    expect(t.endpoints.map((e) => [e.id, e.state, e.share])).toEqual([
      ['a1', 'active', 1],
      ['b1', 'standby', 0],
    ]);
  });

  it('has no active endpoint while no leader is known', () => {
    const t = route([rec('a', [db('a1')]), rec('b', [db('b1')])]).tables[0]!;
    expect(t.leader).toBeUndefined();
    expect(t.endpoints.every((e) => e.state === 'standby' && e.share === 0)).toBe(true);
  });

  it('takes the highest token when a deposed leader still claims', () => {
    const records = [leads(rec('a', [db('a1')]), claim(7, 3, 'a1')), leads(rec('b', [db('b1')]), claim(12, 4, 'b1'))];
    expect(route(records).tables[0]!.leader?.node).toBe('b');
    // whatever order the records arrive in
    expect(route([...records].reverse()).tables[0]!.leader?.node).toBe('b');
  });

  it('ignores the claim of a dead node, and routes to the leader even when its checks fail', () => {
    const records = [
      leads(rec('a', [db('a1')]), claim(12, 4, 'a1')),
      leads(rec('b', [db('b1', { health: 'critical' })]), claim(7, 3)),
    ];
    const t = route(records, { overrides: { a: member('a', 'dead') } }).tables[0]!;
    expect(t.leader).toEqual({ node: 'b', id: 'b1', token: 7, term: 3 });
    expect(t.endpoints[0]).toMatchObject({ id: 'b1', state: 'active', share: 1 });
  });

  it('keeps the leader active on a confirmed-suspect node: only a new leader moves traffic', () => {
    const records = [leads(rec('a', [db('a1')]), claim(5, 2, 'a1')), rec('b', [db('b1')])];
    const t = route(records, { overrides: { a: member('a', 'suspect', true) } }).tables[0]!;
    expect(t.endpoints[0]).toMatchObject({ id: 'a1', state: 'active' });
  });

  it('does not route to a drained leader instance', () => {
    const records = [leads(rec('a', [db('a1', { maintenance: true })]), claim(5, 2, 'a1')), rec('b', [db('b1')])];
    const t = route(records).tables[0]!;
    expect(t.leader).toBeUndefined();
    expect(t.endpoints.map((e) => e.id)).toEqual(['b1']);
  });

  it('ignores claims for other groups', () => {
    const records = [leads(rec('a', [db('a1')]), { group: 'other', token: 99, term: 9 }), rec('b', [db('b1')])];
    expect(route(records).tables[0]!.leader).toBeUndefined();
  });
});
