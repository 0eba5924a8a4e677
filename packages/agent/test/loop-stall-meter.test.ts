import { describe, expect, it } from 'vitest';
import { LoopStallMeter } from '../src/membership/loop-stall-meter.ts';
import { VirtualRuntime } from '../src/runtime/virtual-runtime.ts';

// The voter rule needs every stall over the threshold noticed (loop-stall-meter.ts argues why a
// coarse sampling period still does). Virtual time: a stall moves the clock without running timers.

const THRESHOLD_MS = 250;
const PERIOD_MS = LoopStallMeter.periodFor(THRESHOLD_MS);

describe('LoopStallMeter', () => {
  it('samples at half the threshold', () => {
    expect(PERIOD_MS).toBe(125);
    expect(LoopStallMeter.periodFor(100)).toBe(50);
    expect(LoopStallMeter.periodFor(1)).toBe(1);
  });

  it('reads no stall from an idle loop', () => {
    const rt = new VirtualRuntime(1);
    const meter = new LoopStallMeter(rt, PERIOD_MS);
    rt.advance(5000);
    expect(meter.take()).toBeLessThanOrEqual(PERIOD_MS);
    meter.stop();
  });

  it('hands each of its samples to a rider, which sees a stall the moment it ends', () => {
    // The service's once-a-second loop check rides on these samples instead of its own timer.
    const rt = new VirtualRuntime(1);
    const seen: number[] = [];
    const meter = new LoopStallMeter(rt, PERIOD_MS, (now) => seen.push(now));
    rt.advance(1000);
    expect(seen).toHaveLength(Math.floor(1000 / PERIOD_MS));
    rt.stall(600);
    rt.advance(1);
    expect(seen.at(-1)).toBe(rt.clock.now() - 1);
    expect(meter.take()).toBeGreaterThanOrEqual(600);
    meter.stop();
    const count = seen.length;
    rt.advance(1000);
    expect(seen).toHaveLength(count);
  });

  it('notices a stall just over the threshold at every phase of its sampling', () => {
    for (let phase = 0; phase < PERIOD_MS; phase += 7) {
      const rt = new VirtualRuntime(1);
      const meter = new LoopStallMeter(rt, PERIOD_MS);
      rt.advance(1000 + phase);
      rt.stall(THRESHOLD_MS + 1);
      rt.advance(300);
      expect(meter.take(), `phase ${phase}`).toBeGreaterThan(THRESHOLD_MS);
      meter.stop();
    }
  });

  it('notices a stall that starts right after a take, before the next sample', () => {
    // monitorEventLoopDelay's reset() forgot its last sample, and missed exactly this stall.
    const rt = new VirtualRuntime(1);
    const meter = new LoopStallMeter(rt, PERIOD_MS);
    rt.advance(1000);
    expect(meter.take()).toBeLessThanOrEqual(PERIOD_MS);
    rt.advance(1);
    rt.stall(THRESHOLD_MS + 1);
    rt.advance(1000);
    expect(meter.take()).toBeGreaterThan(THRESHOLD_MS);
    meter.stop();
  });

  it('reports a stall once when it delayed both the check and the sampler', () => {
    const rt = new VirtualRuntime(1);
    const meter = new LoopStallMeter(rt, PERIOD_MS);
    rt.advance(1000);
    meter.take();
    rt.stall(400);
    // The check runs first after the stall: it reports it, and the sampler's late run adds nothing.
    expect(meter.take()).toBeGreaterThanOrEqual(400);
    rt.advance(1000);
    expect(meter.take()).toBeLessThanOrEqual(PERIOD_MS);
    meter.stop();
  });

  it('peeks at a stall before the check takes it', () => {
    const rt = new VirtualRuntime(1);
    const meter = new LoopStallMeter(rt, PERIOD_MS);
    rt.advance(1000);
    rt.stall(300);
    rt.advance(10);
    expect(meter.peek()).toBeGreaterThanOrEqual(300);
    expect(meter.take()).toBeGreaterThanOrEqual(300);
    meter.stop();
  });

  describe('with a contention source, it sleeps while nothing watches', () => {
    /** A fake host: `busy` ms of contention (our loop busy, or waiting for a CPU) so far. */
    function sleepy() {
      const rt = new VirtualRuntime(1);
      const host = { busy: 0 };
      const samples: number[] = [];
      const meter = new LoopStallMeter(
        rt,
        PERIOD_MS,
        (now) => samples.push(now),
        () => host.busy,
      );
      rt.advance(1000); // its first sample finds nothing watched and no contention: asleep
      return { rt, host, samples, meter };
    }

    it('does not wake an idle loop, and reads an idle window as no stall', () => {
      const { rt, meter, samples } = sleepy();
      expect(meter.isSampling()).toBe(false);
      expect(samples).toHaveLength(1);
      meter.take();
      rt.advance(5000);
      expect(samples).toHaveLength(1);
      expect(meter.take(), 'five quiet seconds are not a stall').toBe(0);
      meter.stop();
    });

    it('still reports a stall it slept through, busy or waiting for a CPU', () => {
      // The voter rule needs every stall that sampling would have seen (README.md, rule 1).
      const { rt, host, meter } = sleepy();
      meter.take();
      rt.advance(2000);
      rt.stall(THRESHOLD_MS + 1);
      host.busy += THRESHOLD_MS + 1;
      rt.advance(500);
      expect(meter.peek()).toBeGreaterThan(THRESHOLD_MS);
      expect(meter.take()).toBeGreaterThan(THRESHOLD_MS);
      meter.stop();
    });

    it('samples again on wake and while watching, and measures those windows by their length', () => {
      const { rt, meter, samples } = sleepy();
      meter.watch(true);
      expect(meter.isSampling()).toBe(true);
      rt.advance(1000);
      expect(samples).toHaveLength(1 + Math.floor(1000 / PERIOD_MS));
      // A stall the contention source missed (a SIGSTOP): sampling measures it anyway.
      rt.stall(400);
      rt.advance(1);
      expect(meter.take()).toBeGreaterThanOrEqual(400);
      meter.watch(false);
      expect(meter.isSampling()).toBe(false);
      meter.wake();
      expect(meter.isSampling()).toBe(true);
      meter.stop();
    });

    it('keeps sampling for 30 s after contention over 100 ms', () => {
      const { rt, host, meter } = sleepy();
      host.busy += 150;
      rt.advance(1000);
      meter.take();
      expect(meter.isSampling()).toBe(true);
      rt.advance(29_000);
      expect(meter.isSampling()).toBe(true);
      rt.advance(1_500);
      expect(meter.isSampling()).toBe(false);
      meter.stop();
    });
  });
});
