import type { RouteTable } from '@vigil/protocol';
import type { DnsLeader, DnsNode, DnsSnapshot } from './dns-view.ts';

/** Where the agent's DNS snapshot comes from: the change feed's index and the planes' reads. */
export interface DnsSourceReads {
  /** Rises with every member, catalog and route change (the change feed's index). */
  index(): number;
  /** False while the tables cannot be trusted yet (catalog not in sync after a start). */
  ready(): boolean;
  tables(): readonly RouteTable[];
  nodes(): readonly DnsNode[];
  readonly leader?: (service: string) => DnsLeader | undefined;
}

/**
 * A snapshot source for the DNS server: rebuilt only when the change feed moves (a query costs a
 * number comparison, not a copy of the member list), and stale-if-error: when the planes cannot
 * be read, or are not ready, the last good snapshot keeps answering. Nothing on the query path
 * reaches the network, so a catalog that cannot reach its peers leaves the last tables in place.
 */
export function dnsSnapshotSource(
  reads: DnsSourceReads,
  onError?: (err: unknown) => void,
): () => DnsSnapshot | undefined {
  let last: DnsSnapshot | undefined;
  let lastIndex = -1;
  return () => {
    const index = reads.index();
    if (index === lastIndex && last !== undefined) return last;
    try {
      if (!reads.ready()) return last;
      last = {
        tables: reads.tables(),
        nodes: reads.nodes(),
        serial: index,
        ...(reads.leader ? { leader: reads.leader } : {}),
      };
      lastIndex = index;
    } catch (err) {
      onError?.(err);
    }
    return last;
  };
}
