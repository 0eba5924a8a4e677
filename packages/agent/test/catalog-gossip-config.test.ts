// The catalog's gossipsub score upkeep: a slower timer (fewer idle wake-ups), the same decay per second.

import { createPeerScoreParams, defaultPeerScoreParams, validatePeerScoreParams } from '@libp2p/gossipsub/score';
import { describe, expect, it } from 'vitest';
import { catalogGossipsubOptions } from '../src/catalog/gossip-config.ts';

describe('catalog gossipsub score params', () => {
  const params = createPeerScoreParams(catalogGossipsubOptions().scoreParams);

  it('decays scores every 5 s, and gossipsub accepts the params', () => {
    expect(params.decayInterval).toBe(5000);
    expect(() => validatePeerScoreParams(params)).not.toThrow();
  });

  it('decays the behaviour penalty per second exactly as the default does', () => {
    const perSecond = (decay: number, intervalMs: number) => decay ** (1000 / intervalMs);
    expect(perSecond(params.behaviourPenaltyDecay, params.decayInterval)).toBeCloseTo(
      perSecond(defaultPeerScoreParams.behaviourPenaltyDecay, defaultPeerScoreParams.decayInterval),
      12,
    );
    // No topic params: nothing else decays per interval.
    expect(params.topics).toEqual({});
  });
});
