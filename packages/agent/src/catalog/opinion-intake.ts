// Every opinion update (opinion-codec.ts) on its way in or out: our own are encoded and applied
// at once; others' are validated (bounds, schema), checked for authorship (the StrictSign
// publisher is the peer membership holds for the node), applied to the overlay on top of the
// records (opinion-overlay.ts) and counted by outcome. Hostile input is counted and dropped, as
// for records (record-intake.ts). No I/O besides the log.

import type { NodeRecord } from '@vigil/protocol';
import type { GossipVerdict } from './catalog-transport.ts';
import { decodeOpinionUpdate, encodeOpinionUpdate, type OpinionUpdate } from './opinion-codec.ts';
import { OpinionOverlay } from './opinion-overlay.ts';
import { RecordError, type RecordRejection } from './record-codec.ts';
import type { RecordIntakeOptions } from './record-intake.ts';
import type { RecordStore } from './record-store.ts';
import { Rejections } from './rejections.ts';

/** `node`: the only node we publish updates for, and never take them from others. */
export interface OpinionIntakeOptions extends Pick<RecordIntakeOptions, 'node' | 'peerIdOf' | 'log' | 'clock'> {
  /** The records: an update is news only when newer than its author's record. */
  readonly store: RecordStore;
  /** An update changed what a node's opinions read as. */
  readonly onChange: (node: string) => void;
}

export interface OpinionCounts {
  published: number;
  accepted: number;
  /** Valid updates with nothing newer than what the records and earlier updates held. */
  stale: number;
}

export class OpinionIntake {
  readonly counts: OpinionCounts = { published: 0, accepted: 0, stale: 0 };
  readonly rejected: Record<RecordRejection, number>;
  private readonly overlay = new OpinionOverlay();
  private readonly opts: OpinionIntakeOptions;
  private readonly rejections: Rejections;

  constructor(opts: OpinionIntakeOptions) {
    this.opts = opts;
    this.rejections = new Rejections(opts.log, opts.clock, 'opinion update');
    this.rejected = this.rejections.counts;
  }

  /** Encodes our own update and applies it here first (our records() read it at once). */
  local(update: Omit<OpinionUpdate, 'node'>): Uint8Array {
    const full: OpinionUpdate = { node: this.opts.node, ...update };
    const bytes = encodeOpinionUpdate(full);
    if (this.overlay.apply(full, this.opts.store.get(this.opts.node)?.record) === 'applied') {
      this.opts.onChange(this.opts.node);
    }
    this.counts.published++;
    return bytes;
  }

  /** The gossip path: Accept forwards and delivers, Ignore drops, Reject also penalises the relay. */
  async fromGossip(data: Uint8Array, from: string): Promise<GossipVerdict> {
    let update: OpinionUpdate;
    try {
      update = decodeOpinionUpdate(data);
      const expected = this.opts.peerIdOf(update.node);
      if (expected === undefined) {
        throw new RecordError('unknown-node', `membership holds no peer id for node ${update.node}`);
      }
      if (from !== expected) {
        throw new RecordError(
          'wrong-signer',
          `opinion update for ${update.node} published by ${from}, membership holds ${expected}`,
        );
      }
    } catch (err) {
      const reason = this.rejections.take(err, { from });
      return reason === 'unknown-node' || reason === 'invalid-name' ? 'ignore' : 'reject';
    }
    if (update.node === this.opts.node) return 'ignore';
    const result = this.overlay.apply(update, this.opts.store.get(update.node)?.record);
    if (result !== 'applied') {
      // Nothing new here (a record overtook it): not forwarded, the record reaches the others too.
      this.counts.stale++;
      return 'ignore';
    }
    this.counts.accepted++;
    this.opts.onChange(update.node);
    return 'accept';
  }

  /** A record is now held: the updates it supersedes are dropped. */
  recordHeld(record: Pick<NodeRecord, 'node' | 'epoch' | 'seq'>): void {
    this.overlay.recordHeld(record.node, record);
  }

  forget(node: string): void {
    this.overlay.forget(node);
  }

  /** Updates not yet superseded by a record. */
  get pending(): number {
    return this.overlay.size;
  }

  /** A record with the newer opinions of pending updates applied. */
  merge(record: NodeRecord): NodeRecord {
    return this.overlay.merge(record);
  }
}
