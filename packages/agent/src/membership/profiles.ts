// Every membership timing default lives here, with the reason for its value. LAN/WAN/local copy
// memberlist's DefaultLANConfig/DefaultWANConfig/DefaultLocalConfig, which encode Lifeguard's
// tuned values; the Serf-level settings copy Serf's agent defaults. Times are milliseconds.

export interface MembershipProfile {
  /** Base probe period; scaled by the local health multiplier (Lifeguard LHA-Probe). */
  readonly probeIntervalMs: number;
  /** Wait for a direct ack; the 99th percentile RTT. Not scaled: waiting longer does not help UDP. */
  readonly probeTimeoutMs: number;
  /** k relays asked for an indirect ping when the direct one fails. */
  readonly indirectChecks: number;
  /** Broadcast retransmits = mult x ceil(log10(N+1)): enough for epidemic spread w.h.p. */
  readonly retransmitMult: number;
  /** Min suspicion = mult x max(1, log10 N) x probeInterval. */
  readonly suspicionMult: number;
  /** Max suspicion = this x min; what a lone accuser waits before declaring dead. */
  readonly suspicionMaxTimeoutMult: number;
  /** Full TCP state exchange, scaled up for N > 32 so total push/pull load stays flat. */
  readonly pushPullIntervalMs: number;
  /** Dedicated gossip period and fan-out, besides piggybacking on probes. */
  readonly gossipIntervalMs: number;
  readonly gossipNodes: number;
  /** Keep gossiping to dead nodes this long so they can refute; memberlist's reap delay. */
  readonly gossipToTheDeadMs: number;
  /** Lifeguard's LHM cap S: probe period backs off to at most this multiple. */
  readonly awarenessMaxMultiplier: number;
  /** Stream (push/pull, TCP ping) connect + I/O deadline. */
  readonly tcpTimeoutMs: number;
  /** Serf: each interval, re-join one failed member with probability failed/alive. */
  readonly reconnectIntervalMs: number;
  /** Serf: forget failed members after this (24 h), left members after the tombstone time. */
  readonly reconnectTimeoutMs: number;
  readonly tombstoneTimeoutMs: number;
  /**
   * A name may move to a new address once its old entry has been dead this long. memberlist's
   * default 0 means never, which strands hosts restarted with a new IP (memberlist#157); 30 s is
   * one suspicion cycle on a LAN, long enough that a live conflicting node would have refuted.
   */
  readonly deadNodeReclaimMs: number;
  /** Ours: how many members that hear a suspicion probe the suspect themselves at once. */
  readonly confirmationProbers: number;
  /** Max UDP payload; memberlist's UDPBufferSize, safe under a 1500-byte MTU. */
  readonly maxPacketBytes: number;
}

const HOUR = 3_600_000;

const lan: MembershipProfile = {
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  retransmitMult: 4,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  pushPullIntervalMs: 30_000,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  gossipToTheDeadMs: 30_000,
  awarenessMaxMultiplier: 8,
  tcpTimeoutMs: 10_000,
  reconnectIntervalMs: 30_000,
  reconnectTimeoutMs: 24 * HOUR,
  tombstoneTimeoutMs: 24 * HOUR,
  deadNodeReclaimMs: 30_000,
  confirmationProbers: 3,
  maxPacketBytes: 1400,
};

export const PROFILES: Readonly<Record<'lan' | 'wan' | 'local', MembershipProfile>> = {
  lan,
  wan: {
    ...lan,
    probeIntervalMs: 5000,
    probeTimeoutMs: 3000,
    suspicionMult: 6,
    pushPullIntervalMs: 60_000,
    gossipIntervalMs: 500,
    gossipNodes: 4,
    gossipToTheDeadMs: 60_000,
    tcpTimeoutMs: 30_000,
    deadNodeReclaimMs: 60_000,
  },
  local: {
    ...lan,
    probeTimeoutMs: 200,
    indirectChecks: 1,
    retransmitMult: 2,
    suspicionMult: 3,
    pushPullIntervalMs: 15_000,
    gossipIntervalMs: 100,
    gossipToTheDeadMs: 15_000,
    tcpTimeoutMs: 1000,
    deadNodeReclaimMs: 15_000,
  },
};

/** memberlist util.go: retransmits per broadcast. */
export function retransmitLimit(mult: number, n: number): number {
  return mult * Math.ceil(Math.log10(n + 1));
}

/** memberlist util.go: log10(n) floored at 1, so clusters of up to 10 use the plain multiple. */
export function suspicionTimeoutMs(mult: number, n: number, intervalMs: number): number {
  return mult * Math.max(1, Math.log10(Math.max(1, n))) * intervalMs;
}

/** memberlist util.go: push/pull period grows with log2 N beyond 32 nodes. */
export function pushPullScaleMs(intervalMs: number, n: number): number {
  if (n <= 32) return intervalMs;
  return (Math.ceil(Math.log2(n) - Math.log2(32)) + 1) * intervalMs;
}
