import { createRequire } from 'node:module';
import {
  decodeQueryFilter,
  encodeQueryFilter,
  encodeSerfMessage,
  encodeSerfRelay,
  type NodeTags,
  SERF_INTERNAL_QUERY_PREFIX,
  type SerfQuery,
  type SerfQueryFilter,
  SerfQueryFlag,
  type SerfQueryResponse,
  type SerfRelay,
} from '@vigil/protocol';
import type { RE2JS } from 're2js';
import { type Random, randomInt, realRuntime } from '../runtime/index.ts';
import { type Address, bytesToIp, ipToBytes } from './address.ts';

/** Serf's QueryBuffer: queries older than this many Lamport ticks are refused as replays. */
const QUERY_BUFFER = 512;
/** Members that have not answered by this share of the timeout are asked directly (see reask). */
const REASK_AT = 0.5;
/** Finished queries whose late duplicate answers are recognised (they come within a timeout or so). */
const FINISHED_KEPT = 16;
/** At most this many direct re-asks per query: past that, the cluster has a bigger problem than gossip luck. */
const MAX_REASK = 128;
/** Serf's QueryTimeoutMult: a query stays open GossipInterval x 16 x ceil(log10(N+1)). */
const QUERY_TIMEOUT_MULT = 16;
/**
 * Lamport times at or beyond this would take a clock (ltime + 1) past 2^53, where JavaScript
 * numbers stop being exact and the encoder refuses them: the next push/pull would throw. Serf's
 * clocks are uint64, but no cluster counts that far, so such a message is forged or corrupt.
 */
export const MAX_LTIME = Number.MAX_SAFE_INTEGER - 1;
/** Serf's QueryResponseSizeLimit. */
export const QUERY_RESPONSE_LIMIT = 1024;

export interface QueryParams {
  readonly filters?: readonly SerfQueryFilter[];
  readonly requestAck?: boolean;
  /** Defaults to Serf's DefaultQueryTimeout. */
  readonly timeoutMs?: number;
  /** Each member also sends its answer through this many others (Serf's RelayFactor). */
  readonly relayFactor?: number;
  /**
   * Members still owed an answer at half the timeout get the query again, directly (see reask).
   * Only for unfiltered queries that every member answers with a payload (the key queries).
   */
  readonly reask?: boolean;
}

export interface QueryResult {
  /** Members that acknowledged delivery (only with requestAck). */
  readonly acks: ReadonlySet<string>;
  /** Each member's response payload, by member name. */
  readonly responses: ReadonlyMap<string, Uint8Array>;
  /** Members alive when it was asked that never answered (empty when filtered: unknown). */
  readonly unanswered: readonly string[];
}

/**
 * Why a query message was refused: unreadable (clock past 2^53, filter, reply or relay address),
 * older than the dedupe window (a replay), an answer to no query of ours (or a late one from a
 * member that had not answered in time), or an internal handler that threw.
 */
export type SerfQueryDrop = 'malformed' | 'replayed' | 'stray-response' | 'handler-failed';

/** Answers an internal query (`_serf_*`): the response payload, or undefined for none. */
export type InternalQueryHandler = (payload: Uint8Array) => Uint8Array | undefined | Promise<Uint8Array | undefined>;

export interface SerfQueriesIO {
  readonly name: string;
  tags(): NodeTags;
  /** Our advertised gossip address: where responses to our queries come. */
  address(): Address;
  /** Alive members, ourselves included: a query with no filter is answered once all have. */
  aliveMembers(): readonly string[];
  /** A member's gossip address, to ask it directly. */
  addressOf(name: string): Address | undefined;
  gossipIntervalMs: number;
  /** Queue a Serf message for gossip; `key` replaces an older message with the same key. */
  broadcast(payload: Uint8Array, key: string): void;
  /** Send one Serf message to an address as a memberlist user message (UDP). */
  sendTo(to: Address, payload: Uint8Array): void;
  /** `k` random alive members other than us, to relay answers through; fewer if there are fewer. */
  relayTargets(k: number): readonly Address[];
  now(): number;
  setTimer(ms: number, fn: () => void): { cancel(): void };
  /** Where query ids come from (the simulator passes a seeded one). Default: the real runtime's. */
  readonly random?: Random | undefined;
}

interface Pending {
  readonly id: number;
  readonly acks: Set<string>;
  readonly responses: Map<string, Uint8Array>;
  /** Members yet to answer; the query ends early when none are left. Undefined when filtered (we cannot know who matches). */
  readonly waiting: Set<string> | undefined;
  readonly finish: () => void;
}

/**
 * Serf's query protocol (serf.go handleQuery/handleQueryResponse, query.go): queries spread by
 * gossip, each member answers the first copy it sees straight to the asker by UDP. We answer
 * Serf's internal queries (ping, and the key queries behind `serf keys`), acknowledge every query
 * that asks for it, forward relayed responses, and can ask queries of our own.
 */
export class SerfQueries {
  private clock = 0;
  /** Query ids seen, by Lamport time; pruned to the last QUERY_BUFFER ticks. */
  private readonly seen = new Map<number, Set<number>>();
  private readonly pending = new Map<number, Pending>();
  /**
   * Who answered our recently finished queries, by Lamport time: with a relay factor every answer
   * comes twice, and the copy that lands after the query ended is expected, not a stray.
   */
  private readonly finished = new Map<number, { id: number; answered: ReadonlySet<string> }>();
  private readonly handlers = new Map<string, InternalQueryHandler>();
  private readonly io: SerfQueriesIO;
  /** What was refused, by reason (exported on /metrics). */
  readonly drops: Record<SerfQueryDrop, number> = {
    malformed: 0,
    replayed: 0,
    'stray-response': 0,
    'handler-failed': 0,
  };

  private readonly random: Random;

  constructor(io: SerfQueriesIO) {
    this.io = io;
    this.random = io.random ?? realRuntime().random;
    this.handlers.set(`${SERF_INTERNAL_QUERY_PREFIX}ping`, () => undefined);
  }

  /** The Lamport time the next query of ours takes (Serf's queryClock). */
  time(): number {
    return this.clock;
  }

  witness(ltime: number): void {
    // SerfCompat drops messages with clocks this large; never let one overflow ours.
    if (ltime >= this.clock && ltime < MAX_LTIME) this.clock = ltime + 1;
  }

  /** Members alive now, ourselves included. */
  memberCount(): number {
    return this.io.aliveMembers().length;
  }

  handle(name: string, handler: InternalQueryHandler): void {
    this.handlers.set(name, handler);
  }

  /** A query arrived by gossip (or our own, run locally). */
  onQuery(q: SerfQuery, raw: Uint8Array): void {
    if (q.ltime >= MAX_LTIME) {
      this.drops.malformed++;
      return;
    }
    this.witness(q.ltime);
    if (this.clock > QUERY_BUFFER && q.ltime < this.clock - QUERY_BUFFER) {
      this.drops.replayed++;
      return;
    }
    let ids = this.seen.get(q.ltime);
    if (ids?.has(q.id)) return;
    if (!ids) {
      ids = new Set();
      this.seen.set(q.ltime, ids);
      for (const t of this.seen.keys()) if (t < this.clock - QUERY_BUFFER) this.seen.delete(t);
    }
    ids.add(q.id);
    // Re-gossip the first copy, whether or not it is for us, as Serf does.
    if ((q.flags & SerfQueryFlag.noBroadcast) === 0) this.io.broadcast(raw, `serf-query\0${q.ltime}\0${q.id}`);
    if (!this.matches(q.filters)) return;
    const to = this.replyAddress(q);
    if (!to) {
      this.drops.malformed++;
      return;
    }
    if ((q.flags & SerfQueryFlag.ack) !== 0) this.respond(to, q, SerfQueryFlag.ack, new Uint8Array(0));
    if (!q.name.startsWith(SERF_INTERNAL_QUERY_PREFIX)) return; // user queries: no handler runs here
    const handler = this.handlers.get(q.name);
    if (!handler) return;
    // Handlers answer bad payloads with an error response; anything thrown is a bug, kept off
    // the packet path (and off unhandled rejections, which would end the process).
    let answer: ReturnType<InternalQueryHandler>;
    try {
      answer = handler(q.payload);
    } catch {
      this.drops['handler-failed']++;
      return;
    }
    // As Serf's Respond: an answer past the asker's deadline is not sent.
    const deadline = this.io.now() + q.timeoutNs / 1e6;
    void Promise.resolve(answer).then(
      (payload) => {
        if (payload !== undefined && this.io.now() <= deadline) this.respond(to, q, 0, payload);
      },
      () => {
        this.drops['handler-failed']++;
      },
    );
  }

  onResponse(r: SerfQueryResponse): void {
    const p = this.pending.get(r.ltime);
    if (!p || p.id !== r.id) {
      const f = this.finished.get(r.ltime);
      if (f?.id !== r.id || !f.answered.has(r.from)) this.drops['stray-response']++;
      return;
    }
    if ((r.flags & SerfQueryFlag.ack) !== 0) {
      p.acks.add(r.from);
      return;
    }
    if (!p.responses.has(r.from)) p.responses.set(r.from, r.payload);
    p.waiting?.delete(r.from);
    if (p.waiting?.size === 0) p.finish();
  }

  /** Serf asks us to pass a response on to the query's asker (relay factor > 0). */
  onRelay(r: SerfRelay): void {
    const host = bytesToIp(r.destAddr);
    if (host === undefined || r.destPort === 0) {
      this.drops.malformed++;
      return;
    }
    this.io.sendTo({ host, port: r.destPort }, r.message);
  }

  /** Asks a query of the cluster (ourselves included); resolves when it times out or all answered. */
  query(name: string, payload: Uint8Array, params: QueryParams = {}): Promise<QueryResult> {
    const timeoutMs = params.timeoutMs ?? this.defaultTimeoutMs();
    const me = this.io.address();
    const q: SerfQuery = {
      type: 'query',
      ltime: this.clock,
      id: randomInt(this.random, 2 ** 31),
      addr: ipToBytes(me.host),
      port: me.port,
      sourceNode: this.io.name,
      filters: (params.filters ?? []).map(encodeQueryFilter),
      flags: params.requestAck ? SerfQueryFlag.ack : 0,
      relayFactor: params.relayFactor ?? 0,
      timeoutNs: timeoutMs * 1e6,
      name,
      payload,
    };
    const raw = encodeSerfMessage(q);
    return new Promise((resolve) => {
      const acks = new Set<string>();
      const responses = new Map<string, Uint8Array>();
      let timer: { cancel(): void } | undefined;
      let reask: { cancel(): void } | undefined;
      const finish = () => {
        timer?.cancel();
        reask?.cancel();
        if (this.pending.get(q.ltime)?.id === q.id) this.pending.delete(q.ltime);
        this.finished.set(q.ltime, { id: q.id, answered: new Set([...responses.keys(), ...acks]) });
        if (this.finished.size > FINISHED_KEPT) this.finished.delete(this.finished.keys().next().value!);
        resolve({ acks, responses, unanswered: [...(waiting ?? [])] });
      };
      const waiting = q.filters.length === 0 ? new Set(this.io.aliveMembers()) : undefined;
      this.pending.set(q.ltime, { id: q.id, acks, responses, waiting, finish });
      timer = this.io.setTimer(timeoutMs, finish);
      if (waiting && params.reask) reask = this.io.setTimer(timeoutMs * REASK_AT, () => this.reask(raw, waiting));
      // As Serf: run it here first (we answer ourselves through the socket), then gossip it.
      this.onQuery(q, raw);
    });
  }

  /**
   * Gossip carries a query to every member only with high probability: in a small cluster each
   * member passes it to a few random others, and about one key query in a hundred missed a member
   * here (seen in the interop test; Serf's own `keys` then reports it as not answered). Members
   * still owed an answer get the query once more, straight from us. They dedupe it by Lamport time
   * and id, Serf agents as well, so a member that merely answered late does not answer twice.
   */
  private reask(raw: Uint8Array, waiting: ReadonlySet<string>): void {
    let sent = 0;
    for (const name of waiting) {
      if (sent >= MAX_REASK) break;
      if (name === this.io.name) continue;
      const to = this.io.addressOf(name);
      if (!to) continue;
      this.io.sendTo(to, raw);
      sent++;
    }
  }

  /** Ends every open query now (agent stopping); callers get what has arrived. */
  close(): void {
    for (const p of [...this.pending.values()]) p.finish();
  }

  /** Serf's DefaultQueryTimeout. */
  defaultTimeoutMs(): number {
    const n = this.io.aliveMembers().length;
    return this.io.gossipIntervalMs * QUERY_TIMEOUT_MULT * Math.max(1, Math.ceil(Math.log10(n + 1)));
  }

  /**
   * Bytes a response spends around its payload (our name, the query's ids, field names), with the
   * largest ids; +5 because a payload's raw header takes up to 5 bytes where the empty one took 1.
   */
  responseOverhead(): number {
    const empty = new Uint8Array(0);
    return (
      encodeSerfMessage({
        type: 'queryResponse',
        ltime: MAX_LTIME,
        id: 2 ** 32 - 1,
        from: this.io.name,
        flags: 0,
        payload: empty,
      }).length + 5
    );
  }

  private respond(to: Address, q: SerfQuery, flags: number, payload: Uint8Array): void {
    const raw = encodeSerfMessage({
      type: 'queryResponse',
      ltime: q.ltime,
      id: q.id,
      from: this.io.name,
      flags,
      payload,
    });
    if (raw.length > QUERY_RESPONSE_LIMIT) return;
    this.io.sendTo(to, raw);
    // As Serf's relayResponse: the same answer through relayFactor other members, when there are
    // that many, so one lost datagram does not lose the answer.
    if (q.relayFactor === 0) return;
    const relays = this.io.relayTargets(q.relayFactor);
    if (relays.length < q.relayFactor) return;
    const wrapped = encodeSerfRelay(q.addr, q.port, q.sourceNode, raw);
    for (const r of relays) this.io.sendTo(r, wrapped);
  }

  private replyAddress(q: SerfQuery): Address | undefined {
    const host = bytesToIp(q.addr);
    return host === undefined || q.port === 0 ? undefined : { host, port: q.port };
  }

  /** Serf's shouldProcessQuery: every filter must match; one we cannot read fails the query. */
  private matches(filters: readonly Uint8Array[]): boolean {
    for (const raw of filters) {
      let f: SerfQueryFilter;
      try {
        f = decodeQueryFilter(raw);
      } catch {
        this.drops.malformed++;
        return false;
      }
      if (f.type === 'nodes') {
        if (!f.nodes.includes(this.io.name)) return false;
        continue;
      }
      if (!tagMatches(f.expr, this.io.tags()[f.tag] ?? '')) return false;
    }
    return true;
  }
}

const require = createRequire(import.meta.url);
let re2: typeof RE2JS | undefined;
/** Serf's QuerySizeLimit: no filter that fits a query is longer. */
const MAX_FILTER_EXPR = 1024;
/** Compiled filters, most recent last: every member compiles each query's filter, often the same one. */
const compiled = new Map<string, RE2JS | null>();
const COMPILED_KEPT = 32;

/**
 * Whether a tag matches a filter's expression, as Serf's regexp.MatchString decides it: RE2 syntax
 * ((?i), \pL, [[:alpha:]], \z, counted repeats to 1000) and linear time, so a member cannot stall
 * our event loop with a pattern like (a+)+$ as it could through JavaScript's backtracking RegExp.
 * RE2JS is a port of Go's engine; it is loaded on the first tag filter, which few clusters send.
 * An expression RE2 refuses (a backreference, a lookaround) matches nothing, as in Serf.
 */
function tagMatches(expr: string, tag: string): boolean {
  if (expr.length > MAX_FILTER_EXPR) return false;
  let re = compiled.get(expr);
  if (re === undefined) {
    re2 ??= (require('re2js') as typeof import('re2js')).RE2JS;
    try {
      re = re2.compile(expr);
    } catch {
      re = null;
    }
    if (compiled.size >= COMPILED_KEPT) compiled.delete(compiled.keys().next().value!);
  } else compiled.delete(expr);
  compiled.set(expr, re);
  return re?.test(tag) ?? false;
}
