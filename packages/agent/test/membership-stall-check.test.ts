import { afterEach, describe, expect, it } from 'vitest';
import { PROFILES } from '../src/membership/profiles.ts';
import { waitFor } from './helpers/wait.ts';
import { stallEventLoop, warnLoggedMembership } from './helpers/warn-logged-membership.ts';

// The voter rule (README, "The confirmation rule") needs every event-loop stall over half a probe
// timeout noticed. The loop monitor samples coarsely to wake an idle agent less often
// (LoopStallMeter); these stalls, just over the threshold and started at several phases of its
// sampling and of the check, must each be logged all the same. The stalls and the monitor are
// real; a loaded host only makes a stall longer, never shorter, so timing luck cannot pass it.

const THRESHOLD_MS = PROFILES.lan.probeTimeoutMs / 2;
const STALL_MS = THRESHOLD_MS + 10;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the event-loop check', () => {
  it('notices every stall just over half a probe timeout, whatever its phase', { timeout: 60_000 }, async () => {
    const { service, records, close } = await warnLoggedMembership('stalled');
    cleanups.push(close);
    // A peer to probe: between probes the meter may sleep (on Linux), and the check then runs on
    // our inputs (a lone agent has none, and needs no vote).
    const peer = await warnLoggedMembership('peer');
    cleanups.push(peer.close);
    await service.join([peer.service.address()]);
    // Stalls of at least STALL_MS that the check logged (a busy host may add longer ones of its own).
    const noticed = () =>
      records().filter((l) => l.msg === 'event loop stalled' && (l.stallMs ?? 0) >= STALL_MS).length;
    await sleep(500);
    // Each stall starts at another phase of the sampling period and of the once-a-second check.
    for (const offset of [0, 31, 62, 93, 124]) {
      const before = noticed();
      await sleep(1100 + offset);
      stallEventLoop(STALL_MS);
      await waitFor(() => noticed() > before, `the ${STALL_MS} ms stall at offset ${offset} logged`, 5000);
    }
    expect(noticed()).toBeGreaterThanOrEqual(5);
  });
});
