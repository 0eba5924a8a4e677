import { describe, expect, it } from 'vitest';
import { META_PEER_ID, nodeNameProblem, nodeTagsProblem, tagKeyProblem, tagValueProblem } from '../src/index.ts';

describe('node names and tags', () => {
  it('takes the names --node takes and nothing else', () => {
    for (const n of ['a', 'web-1.eu_west', 'x'.repeat(128)]) expect(nodeNameProblem(n), n).toBeUndefined();
    expect(nodeNameProblem('')).toBe('must not be empty');
    expect(nodeNameProblem('x'.repeat(129))).toBe('must be at most 128 characters');
    for (const n of ['\u001b[31m', 'a\nb', 'a b', 'é', 'a:b']) expect(nodeNameProblem(n), n).toMatch(/may hold only/);
  });

  it('refuses control characters and long values in tags, and user keys with a colon', () => {
    expect(tagKeyProblem('role')).toBeUndefined();
    expect(tagKeyProblem('vigil:zone')).toMatch(/tag keys/);
    expect(tagValueProblem('eu west 東京')).toBeUndefined();
    expect(tagValueProblem('a\u001b')).toMatch(/control/);
    expect(tagValueProblem('\u009b')).toMatch(/control/);
    expect(tagValueProblem('x'.repeat(257))).toMatch(/at most 256/);
    // Gossip also carries Vigil's reserved tags.
    expect(nodeTagsProblem({ [META_PEER_ID]: '12D3KooW', role: 'web' })).toBeUndefined();
    expect(nodeTagsProblem({ 'bad key': 'v' })).toMatch(/tag keys/);
  });
});
