import type { Alive, IndirectPing, Message, Ping } from '@vigil/protocol';
import { isLive } from '../base/member-status.ts';
import { type Address, ipToBytes } from './address.ts';
import { Awareness } from './awareness.ts';
import { BroadcastQueue } from './broadcast-queue.ts';
import type { Member, MemberTable } from './member-table.ts';
import { estimateSize } from './message-size.ts';
import type { TraceStep } from './probe-trail.ts';
import { type MembershipProfile, retransmitLimit } from './profiles.ts';
import type { EngineConfig, Output } from './swim-engine.ts';
import { TimerQueue } from './timer-queue.ts';

/** Bytes a packet spends outside its messages: compound header, CRC, AES-GCM, label. */
const PACKET_OVERHEAD = 64;
/** Per-part compound overhead (uint16 length) in memberlist. */
const COMPOUND_PART_OVERHEAD = 2;
/** The most members told directly about a leave or a confirmation; gossip carries it to the rest. */
export const DIRECT_FANOUT = 64;

/**
 * What every part of one engine shares (memberlist keeps it on its one struct): the member table,
 * the clock the last input brought, timers, the broadcast queue, Lifeguard's score, and the
 * outputs waiting for the edge, with the packet builders that piggyback broadcasts.
 */
export class EngineCore {
  readonly config: EngineConfig;
  readonly profile: MembershipProfile;
  readonly lifeguard: boolean;
  readonly members: MemberTable;
  readonly self: Member;
  readonly timers = new TimerQueue();
  readonly broadcasts = new BroadcastQueue();
  readonly awareness: Awareness;
  now: number;
  leaving = false;
  /** Set while preloadMembers runs: what it merges is known cluster-wide, so it is not re-gossiped. */
  preloading = false;
  outputs: Output[] = [];

  constructor(config: EngineConfig, members: MemberTable, now: number) {
    this.config = config;
    this.profile = config.profile;
    this.lifeguard = config.lifeguard !== false;
    this.members = members;
    this.self = members.self;
    this.now = now;
    this.awareness = new Awareness(this.lifeguard ? this.profile.awarenessMaxMultiplier : 1);
  }

  /** Sends messages with as many pending broadcasts piggybacked as fit in one packet. */
  send(to: Address, messages: Message[]): void {
    let used = 0;
    for (const m of messages) used += estimateSize(m) + COMPOUND_PART_OVERHEAD;
    const extra = this.takeBroadcasts(used);
    this.outputs.push({ kind: 'packet', to, messages: extra.length > 0 ? [...messages, ...extra] : messages });
  }

  takeBroadcasts(used: number): Message[] {
    const limit = this.profile.maxPacketBytes - PACKET_OVERHEAD - used;
    const transmits = retransmitLimit(this.profile.retransmitMult, this.members.liveCount());
    return this.broadcasts.take(COMPOUND_PART_OVERHEAD, limit, transmits);
  }

  queueBroadcast(message: Message, key?: string): void {
    this.broadcasts.queue(message, estimateSize(message), key);
  }

  pingFor(node: string, seqNo: number): Ping {
    return {
      type: 'ping',
      seqNo,
      node,
      sourceAddr: ipToBytes(this.self.addr.host),
      sourcePort: this.self.addr.port,
      sourceNode: this.self.name,
    };
  }

  indirectPingFor(target: Member, seqNo: number, nack: boolean): IndirectPing {
    return {
      type: 'indirectPing',
      seqNo,
      target: ipToBytes(target.addr.host),
      port: target.addr.port,
      node: target.name,
      nack,
      sourceAddr: ipToBytes(this.self.addr.host),
      sourcePort: this.self.addr.port,
      sourceNode: this.self.name,
    };
  }

  /** Sends news straight to `only`, or to (a bounded number of) live members, instead of waiting for gossip. */
  tellDirectly(about: Member, messages: Message[], only?: readonly Member[]): void {
    const peers = only ?? this.members.sample(DIRECT_FANOUT, (m) => m !== about && isLive(m));
    for (const peer of peers) this.outputs.push({ kind: 'packet', to: peer.addr, messages });
  }

  trace(member: string, step: TraceStep): void {
    this.config.onTrace?.(member, step);
  }

  aliveMessage(m: Member): Alive {
    return {
      type: 'alive',
      incarnation: m.incarnation,
      node: m.name,
      addr: ipToBytes(m.addr.host),
      port: m.addr.port,
      meta: m.meta,
      vsn: m.vsn,
    };
  }
}
