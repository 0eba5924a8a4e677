// Every record that reaches the store comes through here, whatever the path: validate (bounds,
// schema), verify (signature, and the signer is the peer membership holds for the node), apply
// (record-store.ts: the one merge rule), count (by outcome and reason). No I/O besides the log.

import type { PrivateKey } from '@libp2p/interface';
import type { NodeRecord } from '@vigil/protocol';
import type { Logger } from '../log.ts';
import type { Clock } from '../runtime/index.ts';
import type { GossipVerdict } from './catalog-transport.ts';
import {
  decodeEnvelope,
  RecordError,
  type RecordRejection,
  type SignedRecord,
  signRecord,
  verifyEnvelope,
} from './record-codec.ts';
import { type DigestEntry, RecordStore } from './record-store.ts';
import { Rejections } from './rejections.ts';

export type RecordSource = 'local' | 'gossip' | 'sync';

/** A newer record for a node was taken. */
export interface RecordChange {
  readonly record: NodeRecord;
  /** What the store held for the node before, if anything. */
  readonly previous: NodeRecord | undefined;
  readonly source: RecordSource;
}

/** Thrown by publish() for a record this node may not or cannot publish. */
export class CatalogPublishError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CatalogPublishError';
  }
}

export interface RecordIntakeOptions {
  /** Our node name: the only record we author, and never take from others. */
  readonly node: string;
  readonly peerId: string;
  readonly privateKey: PrivateKey;
  /** The peer id membership holds for a node, or undefined when it knows none. */
  readonly peerIdOf: (node: string) => string | undefined;
  readonly maxNodes: number;
  readonly log: Logger;
  readonly clock: Clock;
  /** Called for every change of the store (listener errors are the caller's to contain). */
  readonly onChange: (change: RecordChange) => void;
}

export class RecordIntake {
  readonly store: RecordStore;
  readonly counts = { acceptedGossip: 0, acceptedSync: 0, stale: 0 };
  readonly rejected: Record<RecordRejection, number>;
  private readonly opts: RecordIntakeOptions;
  private readonly rejections: Rejections;
  private closed = false;

  constructor(opts: RecordIntakeOptions) {
    this.opts = opts;
    this.store = new RecordStore(opts.maxNodes);
    this.rejections = new Rejections(opts.log, opts.clock, 'record');
    this.rejected = this.rejections.counts;
  }

  /** From here on nothing is applied (the node is stopping). */
  close(): void {
    this.closed = true;
  }

  /**
   * Signs our own record and keeps it. The caller bumps `seq` (or `epoch`) for every change; a
   * record that is not newer than the last one is refused.
   */
  async signLocal(record: NodeRecord): Promise<SignedRecord> {
    const { node, peerId } = this.opts;
    if (record.node !== node) {
      throw new CatalogPublishError(`this agent publishes only its own record (${node}), not ${record.node}`);
    }
    if (record.peerId !== peerId) throw new CatalogPublishError(`record.peerId must be this agent's peer id ${peerId}`);
    if (!this.store.isNewerVersion(record)) {
      const held = this.store.get(record.node)?.record;
      throw new CatalogPublishError(
        `record version (${record.epoch}, ${record.seq}) is not newer than the published (${held?.epoch}, ${held?.seq}); bump seq`,
      );
    }
    let signed: SignedRecord;
    try {
      signed = await signRecord(record, this.opts.privateKey);
    } catch (err) {
      throw new CatalogPublishError(`cannot publish: ${(err as Error).message}`);
    }
    // Checked before the await; re-check so concurrent publishes cannot go backwards.
    const result = this.store.isNewerVersion(record) ? this.store.merge(signed) : undefined;
    if (!result?.changed) throw new CatalogPublishError('a newer record was published concurrently');
    this.opts.onChange({ record: signed.record, previous: result.previous, source: 'local' });
    return signed;
  }

  /** The gossip path: Accept forwards and delivers, Ignore drops, Reject also penalises the relay. */
  async fromGossip(data: Uint8Array, from: string): Promise<GossipVerdict> {
    let signed: SignedRecord;
    try {
      signed = decodeEnvelope(data);
      // The StrictSign publisher must be the node's own peer, not a relay of it.
      const expected = this.opts.peerIdOf(signed.record.node);
      if (expected !== undefined && from !== expected) {
        throw new RecordError(
          'wrong-signer',
          `record for ${signed.record.node} published by ${from}, membership holds ${expected}`,
        );
      }
      await verifyEnvelope(signed, expected);
    } catch (err) {
      // Names a newer rule refuses may be relayed in good faith by an older agent: drop, do not penalise.
      const reason = this.rejections.take(err, { path: 'gossip', from });
      return reason === 'unknown-node' || reason === 'invalid-name' ? 'ignore' : 'reject';
    }
    return this.apply(signed, 'gossip') ? 'accept' : 'ignore';
  }

  /** The anti-entropy path: the same check, minus the publisher (any peer may hold the record). */
  async fromSync(signed: SignedRecord, from: string): Promise<boolean> {
    if (signed.record.node === this.opts.node || !this.store.isNewer(signed)) {
      this.counts.stale++; // our own record is authored here, never taken from others
      return false;
    }
    try {
      await verifyEnvelope(signed, this.opts.peerIdOf(signed.record.node));
    } catch (err) {
      this.rejections.take(err, { path: 'sync', from });
      return false;
    }
    return this.apply(signed, 'sync');
  }

  /**
   * What to hand a peer whose digest this is: only records membership still vouches for (the
   * author's current peer id), since a record of a node that has since changed identity would
   * only be rejected on the other side.
   */
  missingFrom(digest: ReadonlyMap<string, DigestEntry>): SignedRecord[] {
    return this.store
      .missingFrom(digest)
      .filter((s) => s.record.node === this.opts.node || this.opts.peerIdOf(s.record.node) === s.record.peerId);
  }

  /** A record the sync stream could not take (its names break the rules): counted like the rest. */
  refused(err: RecordError, from: string): void {
    this.rejections.take(err, { path: 'sync', from });
  }

  private apply(signed: SignedRecord, source: 'gossip' | 'sync'): boolean {
    if (this.closed || signed.record.node === this.opts.node) return false;
    const result = this.store.merge(signed);
    if (!result.changed) {
      if (result.reason === 'full') {
        this.opts.log.warn({ node: signed.record.node, max: this.opts.maxNodes }, 'catalog: record store full');
      } else {
        this.counts.stale++;
      }
      return false;
    }
    if (source === 'gossip') this.counts.acceptedGossip++;
    else this.counts.acceptedSync++;
    this.opts.onChange({ record: signed.record, previous: result.previous, source });
    return true;
  }
}
