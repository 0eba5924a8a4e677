/** A member's state as SWIM sees it; routing, elections, DNS and the API all use this one. */
export type MemberStatus = 'alive' | 'suspect' | 'dead' | 'left';

/** Alive or suspect: still a member to talk to (suspicion is an open question, not a verdict). */
export function isLiveStatus(status: MemberStatus | undefined): boolean {
  return status === 'alive' || status === 'suspect';
}

/** isLiveStatus of a member (or of none: not live). */
export function isLive(m: { readonly status: MemberStatus } | undefined): boolean {
  return isLiveStatus(m?.status);
}
