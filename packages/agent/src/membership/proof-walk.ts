import type { Member, MemberTable } from './member-table.ts';

// Whom the start-up proofs dial next, and how many, at what pace (Confirmation.proveSome decides
// what a proof is for). Pure bookkeeping over the member table: no I/O, no timers of its own.

/**
 * Members looked at per probe interval of real time, and at most at once however long since the
 * last call: a walk of 1,000 takes about a minute, and once every port is known it looks at 16 a
 * second.
 */
const SCANS_PER_INTERVAL = 16;
const MAX_SCANS = 64;
/** At most this many proofs at once, however long since the last call. */
const MAX_PROOFS = 16;
/**
 * About this many members prove a newcomer first (each with probability this / N); the others
 * reach it in their walk, so a join at N = 1,000 is not met by 999 connects within a second.
 */
const NEWCOMER_PROVERS = 64;

/**
 * A walk over the members in an order of its own: shuffled, so no member is proved last by every
 * agent (in join order, the newest was: the one whose crash a start-up's refusals must catch), and
 * taken again, reshuffled, when it ends. Paced by real time rather than by the ticks that call it:
 * Lifeguard stretches probe ticks on a starved start-up (up to 9 s apart, when a member that just
 * joined has its port proven by nobody), a starved loop runs them late, and gossip ticks run only
 * while there is news.
 */
export class ProofWalk {
  private readonly members: MemberTable;
  private readonly random: () => number;
  private order: readonly Member[] = [];
  private index = 0;
  /** How many members the list held at the last call: those after it are new since. */
  private seen = 0;
  private lastAt: number | undefined;
  /** Proofs and looks earned and not yet spent. */
  private proofCredit = 0;
  private scanCredit = 0;

  constructor(members: MemberTable, random: () => number) {
    this.members = members;
    this.random = random;
  }

  /**
   * The members to prove now: `perInterval` a probe interval of real time since the last call, each
   * one `claim` takes (it sees only members still in the table, and claims the dial it accepts).
   */
  take(now: number, intervalMs: number, perInterval: number, claim: (m: Member) => boolean): Member[] {
    const intervals = (this.lastAt === undefined ? intervalMs : now - this.lastAt) / intervalMs;
    this.lastAt = now;
    this.proofCredit = Math.min(MAX_PROOFS, this.proofCredit + perInterval * intervals);
    this.scanCredit = Math.min(MAX_SCANS, this.scanCredit + SCANS_PER_INTERVAL * intervals);
    const all = this.members.array();
    const allowed = Math.floor(this.proofCredit);
    const scan = Math.min(Math.floor(this.scanCredit), all.length);
    if (allowed < 1 || scan < 1) return [];
    // Members learnt since the last call go first: in a settled cluster theirs are the only ports
    // not known, and in the walk they would wait for its end (a member that joins and crashes at
    // once was accused only at its probe's UDP timeout). The list grows at its end; a reaped
    // member's swap can hide a newcomer from this, not from the next walk.
    if (all.length > this.seen) {
      const share = NEWCOMER_PROVERS / all.length;
      const learnt = all.slice(this.seen);
      const fresh = this.members.shuffledOthers(share >= 1 ? learnt : learnt.filter(() => this.random() < share));
      this.order = [...fresh, ...this.order.slice(this.index)];
      this.index = 0;
    }
    this.seen = all.length;
    const taken: Member[] = [];
    let looked = 0;
    for (; looked < scan && taken.length < allowed; looked++) {
      if (this.index >= this.order.length) {
        this.order = this.members.shuffledOthers();
        this.index = 0;
        if (this.order.length === 0) break;
      }
      const m = this.order[this.index++]!;
      if (this.members.get(m.name) === m && claim(m)) taken.push(m);
    }
    this.proofCredit -= taken.length;
    this.scanCredit -= looked;
    return taken;
  }
}
