import { describe, expect, it } from 'vitest';
import { Awareness } from '../src/membership/awareness.ts';

describe('Awareness (Lifeguard local health multiplier)', () => {
  it('starts healthy and scales timeouts by score + 1', () => {
    const a = new Awareness(8);
    expect(a.health()).toBe(0);
    expect(a.scale(1000)).toBe(1000);
    a.apply(2);
    expect(a.health()).toBe(2);
    expect(a.scale(1000)).toBe(3000);
  });

  it('saturates at max - 1 and never drops below 0', () => {
    const a = new Awareness(8);
    for (let i = 0; i < 20; i++) a.apply(1);
    expect(a.health()).toBe(7);
    expect(a.scale(1000)).toBe(8000); // probe interval backs off to at most 8x
    a.apply(3); // a probe failure with 3 missed nacks
    expect(a.health()).toBe(7);
    for (let i = 0; i < 3; i++) a.apply(-1); // successful probes
    expect(a.health()).toBe(4);
    a.apply(-100);
    expect(a.health()).toBe(0);
    expect(a.scale(500)).toBe(500);
  });

  it('never moves with a multiplier of 1 (plain SWIM)', () => {
    const a = new Awareness(1);
    a.apply(5);
    expect(a.health()).toBe(0);
    expect(a.scale(1000)).toBe(1000);
  });
});
