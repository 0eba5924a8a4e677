import { describe, expect, it } from 'vitest';
import type { MembershipEvent, MemberView } from '../src/membership/swim-engine.ts';
import { MAX_TRACKED_MEMBERS, VERDICTS_PER_MEMBER, VerdictLog } from '../src/membership/verdict-log.ts';

const suspect = (node: string, from: string, incarnation = 1) => ({
  type: 'suspect' as const,
  node,
  from,
  incarnation,
});
const event = (type: MembershipEvent['type'], name: string, incarnation = 1): MembershipEvent => ({
  index: 0,
  type,
  at: 0,
  member: { name, incarnation } as MemberView,
});

describe('VerdictLog', () => {
  it('records our own accusation with its paths and health, the confirmations, and the dead verdict', () => {
    let now = 1000;
    const log = new VerdictLog('a', () => now);
    log.suspicion(suspect('c', 'a'), { kind: 'probe', relays: 3, nacks: 1, tcp: true, health: 2, silentMs: 0 });
    now = 1200;
    log.suspicion(suspect('c', 'b'), { kind: 'gossip' });
    log.suspicion(suspect('c', 'b'), { kind: 'gossip' }); // a repeat is no new confirmation
    log.suspicion(suspect('c', 'a'), { kind: 'gossip' }); // nor is the accuser again
    now = 5000;
    log.event(event('dead', 'c'));
    expect(log.history('c')).toEqual([
      {
        incarnation: 1,
        suspectedAt: 1000,
        accuser: 'a',
        cause: 'probe',
        accuserHealth: 2,
        paths: [
          { path: 'direct', by: 'a' },
          { path: 'indirect', by: 'a', relays: 3, nacks: 1 },
          { path: 'tcp', by: 'a' },
        ],
        confirmations: [{ by: 'b', at: 1200 }],
        end: { how: 'dead', at: 5000, incarnation: 1 },
      },
    ]);
  });

  it('a refutation ends a suspicion; a new incarnation is a new suspicion; a newer accusation supersedes', () => {
    const log = new VerdictLog('a', () => 7);
    log.suspicion(suspect('c', 'b', 1), { kind: 'gossip' });
    log.event(event('alive', 'c', 2));
    log.suspicion(suspect('c', 'b', 2), { kind: 'gossip' });
    log.suspicion(suspect('c', 'd', 3), { kind: 'confirm', relays: 2, health: 0 });
    const [third, second, first] = log.history('c');
    expect(first?.end).toEqual({ how: 'refuted', at: 7, incarnation: 2 });
    expect(second?.end?.how).toBe('superseded');
    expect(third).toMatchObject({ accuser: 'd', incarnation: 3 });
    expect(third?.end).toBeUndefined();
    expect(log.history('a')).toEqual([]);
  });

  it('a merged suspicion records nobody: the first accusation after it is the accuser, not a confirmer', () => {
    let now = 10;
    const log = new VerdictLog('a', () => now);
    // The engine passes a merged state under this agent's name, as memberlist's mergeState does.
    log.suspicion(suspect('c', 'a'), { kind: 'merge' });
    log.suspicion(suspect('c', 'a'), { kind: 'merge' });
    expect(log.history('c')).toEqual([{ incarnation: 1, suspectedAt: 10, cause: 'merge', confirmations: [] }]);
    now = 20;
    log.suspicion(suspect('c', 'b'), { kind: 'gossip' });
    now = 30;
    log.suspicion(suspect('c', 'a'), { kind: 'probe', relays: 3, nacks: 0, tcp: false, health: 0, silentMs: 0 });
    const [v] = log.history('c');
    expect(v).toMatchObject({ accuser: 'b', cause: 'merge', suspectedAt: 10 });
    expect(v?.confirmations).toEqual([
      {
        by: 'a',
        at: 30,
        health: 0,
        paths: [
          { path: 'direct', by: 'a' },
          { path: 'indirect', by: 'a', relays: 3, nacks: 0 },
        ],
      },
    ]);
  });

  it('records a refused connect on an accusation (rule 8) as the one path it tried', () => {
    const log = new VerdictLog('a', () => 5);
    log.suspicion(suspect('c', 'b'), { kind: 'gossip' });
    const cause = { relays: 0, nacks: 0, tcp: true, refused: true, refusedAt: 4, health: 3, silentMs: 1 } as const;
    log.suspicion(suspect('c', 'a'), { kind: 'probe', ...cause, connectOnly: true });
    expect(log.history('c')[0]?.confirmations).toEqual([
      { by: 'a', at: 5, health: 3, paths: [{ path: 'tcp', by: 'a', refused: true }] },
    ]);
  });

  it('stays bounded: suspicions per member and members tracked', () => {
    const log = new VerdictLog('a', () => 0);
    for (let i = 0; i < VERDICTS_PER_MEMBER + 5; i++) log.suspicion(suspect('c', 'b', i), { kind: 'gossip' });
    expect(log.history('c')).toHaveLength(VERDICTS_PER_MEMBER);
    expect(log.history('c')[0]?.incarnation).toBe(VERDICTS_PER_MEMBER + 4);
    for (let i = 0; i < MAX_TRACKED_MEMBERS + 10; i++) log.suspicion(suspect(`m${i}`, 'b'), { kind: 'gossip' });
    expect(log.history('c')).toEqual([]);
    expect(log.history(`m${MAX_TRACKED_MEMBERS + 9}`)).toHaveLength(1);
    expect(log.history('m5')).toEqual([]);
  });
});
