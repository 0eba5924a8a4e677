import { decodeSerfMessage, encodeSerfMessage, type SerfMessage } from '@vigil/protocol';
import { MAX_LTIME, type SerfQueries } from './serf-queries.ts';
import type { EngineDelegate } from './swim-engine.ts';

function clocksFit(m: SerfMessage): boolean {
  switch (m.type) {
    case 'pushPull':
      return (
        m.ltime < MAX_LTIME &&
        m.eventLTime < MAX_LTIME &&
        m.queryLTime < MAX_LTIME &&
        [...m.statusLTimes.values()].every((t) => t < MAX_LTIME)
      );
    case 'join':
    case 'leave':
    case 'userEvent':
    case 'query':
    case 'queryResponse':
      return m.ltime < MAX_LTIME;
    default:
      return true;
  }
}

/** How many intents we remember to avoid re-gossiping the same one forever. */
const SEEN_LIMIT = 4096;

/**
 * The part of Serf's protocol a Vigil agent needs to be a good citizen in a Serf cluster: Lamport
 * clocks (Serf orders join and leave intents by them), a leave intent before our memberlist leave
 * (without it Serf shows a graceful leave as "failed"), re-gossip of other members' intents, and
 * a valid Serf push/pull state. Queries go to SerfQueries; user events are witnessed only.
 */
export class SerfCompat implements EngineDelegate {
  private clock = 0;
  private eventClock = 0;
  private readonly statusLTimes = new Map<string, number>();
  private readonly left = new Set<string>();
  private readonly seen = new Set<string>();
  private readonly name: string;
  private readonly rebroadcast: (payload: Uint8Array, key: string) => void;
  private readonly queries: SerfQueries;
  /** Counts of Serf messages by type that we could not parse. */
  malformed = 0;

  constructor(name: string, rebroadcast: (payload: Uint8Array, key: string) => void, queries: SerfQueries) {
    this.name = name;
    this.rebroadcast = rebroadcast;
    this.queries = queries;
  }

  /** Serf's join intent, broadcast once at start. */
  joinIntent(): Uint8Array {
    const ltime = this.tick();
    this.statusLTimes.set(this.name, ltime);
    return encodeSerfMessage({ type: 'join', ltime, node: this.name });
  }

  leaveIntent(): Uint8Array {
    const ltime = this.tick();
    this.statusLTimes.set(this.name, ltime);
    return encodeSerfMessage({ type: 'leave', ltime, node: this.name, prune: false });
  }

  localState(): Uint8Array {
    return encodeSerfMessage({
      type: 'pushPull',
      ltime: this.clock,
      statusLTimes: this.statusLTimes,
      leftMembers: [...this.left],
      eventLTime: this.eventClock,
      events: [],
      queryLTime: this.queries.time(),
    });
  }

  mergeRemoteState(state: Uint8Array): void {
    const msg = this.decode(state);
    if (msg?.type !== 'pushPull') return;
    this.witness(msg.ltime);
    this.eventClock = Math.max(this.eventClock, msg.eventLTime);
    if (msg.queryLTime > 0) this.queries.witness(msg.queryLTime - 1);
    for (const [node, ltime] of msg.statusLTimes) this.recordStatus(node, ltime);
    for (const node of msg.leftMembers) this.left.add(node);
  }

  notifyUser(payload: Uint8Array): void {
    const msg = this.decode(payload);
    if (!msg) return;
    switch (msg.type) {
      case 'join':
      case 'leave': {
        this.witness(msg.ltime);
        if (!this.recordStatus(msg.node, msg.ltime)) return;
        if (msg.type === 'leave') this.left.add(msg.node);
        else this.left.delete(msg.node);
        // Serf spreads intents by re-gossip; members that only hear Serf through us need this.
        this.rebroadcast(payload, `serf-intent\0${msg.node}`);
        return;
      }
      case 'userEvent':
        this.eventClock = Math.max(this.eventClock, msg.ltime + 1);
        return;
      case 'query':
        this.queries.onQuery(msg, payload);
        return;
      case 'queryResponse':
        this.queries.onResponse(msg);
        return;
      case 'relay':
        this.queries.onRelay(msg);
        return;
      default:
        return;
    }
  }

  private recordStatus(node: string, ltime: number): boolean {
    const key = `${node}\0${ltime}`;
    if (this.seen.has(key) || (this.statusLTimes.get(node) ?? -1) >= ltime) return false;
    if (this.seen.size >= SEEN_LIMIT) this.seen.clear();
    this.seen.add(key);
    this.statusLTimes.set(node, ltime);
    return true;
  }

  private decode(buf: Uint8Array): SerfMessage | undefined {
    let msg: SerfMessage | undefined;
    try {
      msg = decodeSerfMessage(buf);
    } catch {
      msg = undefined;
    }
    if (msg === undefined || !clocksFit(msg)) {
      this.malformed++;
      return undefined;
    }
    return msg;
  }

  private tick(): number {
    return ++this.clock;
  }

  /** Lamport: our clock moves past every time we see. */
  private witness(ltime: number): void {
    if (ltime >= this.clock) this.clock = ltime + 1;
  }
}
