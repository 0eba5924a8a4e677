/**
 * Election timing defaults, each with its reason. One place, as the membership profiles are.
 */
export interface ElectionTiming {
  /**
   * Raft's base election timeout (each wait is drawn in [base, 2·base)). 1 s: a failover is about
   * lease end (≈ base) + one randomized wait (base..2·base) + a vote and a commit round trip, so
   * 2–3 s; much shorter and a stalled event loop on a busy host (hundreds of ms) deposes healthy
   * leaders.
   */
  readonly electionTimeoutMs: number;
  /** Leader heartbeats: a tenth of the timeout keeps the lease renewed ~9 times per lease. */
  readonly heartbeatMs: number;
  /** Clock rate bound: the lease is electionTimeout·(1 − drift) on the leader's clock. */
  readonly maxClockDrift: number;
  /**
   * Stop acting once the lease has less than this left without a renewal. 300 ms tolerates ~650 ms
   * without an acknowledged heartbeat round (event-loop stalls of a few hundred ms are common on a
   * busy host: at 500 ms a 3-agent loopback cluster on a loaded 2-core machine flapped about every
   * 30 s), and leaves ~250 ms for OnDemote or a lock's SIGTERM grace before the kill.
   */
  readonly demoteBeforeLeaseEndMs: number;
  /** Everything is killed (SIGKILL to the process group) this long before the lease ends. */
  readonly killMarginMs: number;
  /** A voter declared dead is replaced only after this long (a restart must not churn the group). */
  readonly deadVoterGraceMs: number;
  /** How often a leader compares the configuration with the desired voters. */
  readonly reconfigureIntervalMs: number;
  /** Compact the log into a snapshot after this many applied entries. */
  readonly compactEvery: number;
}

export const DEFAULT_ELECTION_TIMING: ElectionTiming = {
  electionTimeoutMs: 1000,
  heartbeatMs: 100,
  maxClockDrift: 0.05,
  demoteBeforeLeaseEndMs: 300,
  killMarginMs: 50,
  deadVoterGraceMs: 30_000,
  reconfigureIntervalMs: 1000,
  compactEvery: 1000,
};
