// Our answer to Serf's name-conflict query. Not tested against real Serf: its CLI refuses queries
// named with the internal _serf_ prefix, and provoking a real name conflict between a Serf agent and
// ours is out of reach here; the bytes follow serf.Member's field names as go-msgpack writes them.

import { decodeConflictResponse } from '@vigil/protocol';
import { describe, expect, it } from 'vitest';
import { conflictAnswer } from '../src/membership/serf-conflict.ts';
import type { MemberView } from '../src/membership/swim-engine.ts';

const view: MemberView = {
  name: 'web-1',
  addr: { host: '10.1.2.3', port: 7946 },
  meta: new Uint8Array(0),
  incarnation: 3,
  status: 'suspect',
  confirmations: 1,
  confirmedSuspect: false,
  stateChangeAt: 0,
};
const lookup = (name: string) => (name === 'web-1' ? view : undefined);
const tags = () => ({ role: 'web', zone: 'a' });
const name = (s: string) => new TextEncoder().encode(s);

describe('name-conflict answers', () => {
  it('describe the member as Serf does, nil when unknown, nothing about ourselves', () => {
    const answer = conflictAnswer(name('web-1'), 'me', lookup, tags)!;
    expect(answer[0]).toBe(6); // messageConflictResponseType
    expect(decodeConflictResponse(answer)).toEqual({
      name: 'web-1',
      addr: Uint8Array.from([10, 1, 2, 3]),
      port: 7946,
      tags: { role: 'web', zone: 'a' },
      status: 1, // a suspect is alive to Serf
      protocol: [1, 5, 2],
      delegate: [2, 5, 4],
    });

    const unknown = conflictAnswer(name('ghost'), 'me', lookup, tags)!;
    expect([...unknown]).toEqual([6, 0xc0]);
    expect(decodeConflictResponse(unknown)).toBeUndefined();
    expect(conflictAnswer(name('me'), 'me', lookup, tags)).toBeUndefined();
  });
});
