import { isLive, type MemberStatus } from '../base/member-status.ts';
import type { Address } from './address.ts';

export interface Member {
  readonly name: string;
  addr: Address;
  meta: Uint8Array;
  incarnation: number;
  status: MemberStatus;
  /** Engine time of the last status change. */
  stateChangeAt: number;
  vsn: readonly number[];
}

/**
 * memberlist's node map and node list: every member this engine knows, ourselves included, with
 * the counts per status, random sampling, and the round-robin probe order.
 */
export class MemberTable {
  readonly self: Member;
  private readonly byName = new Map<string, Member>();
  /** The same members in an array, for O(1) random sampling at thousands of nodes. */
  private readonly list: Member[] = [];
  private readonly statusCounts: Record<MemberStatus, number> = { alive: 0, suspect: 0, dead: 0, left: 0 };
  private readonly random: () => number;
  private probeOrder: string[] = [];
  private probeIndex = 0;

  constructor(self: Member, random: () => number) {
    this.self = self;
    this.random = random;
    this.add(self);
  }

  get(name: string): Member | undefined {
    return this.byName.get(name);
  }

  /** In the order they were learned. */
  values(): IterableIterator<Member> {
    return this.byName.values();
  }

  /** In no particular order; do not keep. */
  array(): readonly Member[] {
    return this.list;
  }

  add(m: Member): void {
    this.byName.set(m.name, m);
    this.list.push(m);
    this.statusCounts[m.status]++;
  }

  /**
   * Adds a member learned from the cluster and gives it a random place in the probe order, so it
   * is probed within one pass. Like memberlist, it swaps places with the member there, which
   * moves to the end: O(1), not a splice.
   */
  addNewcomer(m: Member): void {
    this.add(m);
    const order = this.probeOrder;
    const at = this.probeIndex + Math.floor(this.random() * (order.length - this.probeIndex + 1));
    order.push(m.name);
    order[order.length - 1] = order[at]!;
    order[at] = m.name;
  }

  remove(m: Member): void {
    this.byName.delete(m.name);
    const i = this.list.indexOf(m);
    this.list[i] = this.list[this.list.length - 1]!;
    this.list.pop();
    this.statusCounts[m.status]--;
  }

  setStatus(m: Member, status: MemberStatus, now: number): void {
    this.statusCounts[m.status]--;
    this.statusCounts[status]++;
    m.status = status;
    m.stateChangeAt = now;
  }

  /** alive + suspect members, self included: the N in memberlist's formulas. */
  liveCount(): number {
    return this.statusCounts.alive + this.statusCounts.suspect;
  }

  counts(): Readonly<Record<MemberStatus, number>> {
    return this.statusCounts;
  }

  /** Round-robin over a shuffled list, reshuffled each pass: bounded time to first detection. */
  nextProbeTarget(): Member | undefined {
    for (let checked = 0; checked <= this.probeOrder.length; checked++) {
      if (this.probeIndex >= this.probeOrder.length) {
        this.probeOrder = this.shuffled([...this.byName.keys()].filter((n) => n !== this.self.name));
        this.probeIndex = 0;
        if (this.probeOrder.length === 0) return undefined;
      }
      const m = this.byName.get(this.probeOrder[this.probeIndex++]!);
      if (isLive(m)) return m;
    }
    return undefined;
  }

  /**
   * Up to `count` distinct random members passing `accept`, self never included. Samples at
   * random when the list is large, so probes and gossip cost O(count), not O(N).
   */
  sample(count: number, accept: (m: Member) => boolean): Member[] {
    const list = this.list;
    if (list.length <= 4 * count + 8) {
      return this.shuffled(list.filter((m) => m !== this.self && accept(m))).slice(0, count);
    }
    const picked = new Set<Member>();
    for (let tries = 0; picked.size < count && tries < count * 16; tries++) {
      const m = list[Math.floor(this.random() * list.length)]!;
      if (m !== this.self && accept(m)) picked.add(m);
    }
    if (picked.size < count) return this.shuffled(list.filter((m) => m !== this.self && accept(m))).slice(0, count);
    return [...picked];
  }

  /** These members (all by default) but self, in a fresh random order. */
  shuffledOthers(members: readonly Member[] = this.list): Member[] {
    return this.shuffled(members.filter((m) => m !== this.self));
  }

  private shuffled<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}
