import {
  decodeKeyRequest,
  decodeKeyResponse,
  encodeKeyRequest,
  encodeKeyResponse,
  type KeyResponse,
  type Keyring,
  SerfKeyQuery,
} from '@vigil/protocol';
import type { DataDir } from '../data-dir/data-dir.ts';
import type { Logger } from '../log.ts';
import { QUERY_RESPONSE_LIMIT, type SerfQueries } from './serf-queries.ts';

/** The part of the data directory the key manager writes. */
export type KeyringStore = Pick<DataDir, 'writeKeyring'>;

export type KeyOperation = 'install' | 'use' | 'remove' | 'list';

/** What a cluster-wide key operation found, in the shape of Serf's KeyResponse / Consul's keyring API. */
export interface KeyringReport {
  /** Members alive when the query was asked. */
  readonly numNodes: number;
  /** Of those, the ones that never answered. */
  readonly unanswered: readonly string[];
  readonly numResponses: number;
  readonly numErrors: number;
  /** Each failing member's message, by member name. */
  readonly messages: Readonly<Record<string, string>>;
  /** list: how many members hold each key (base64). */
  readonly keys: Readonly<Record<string, number>>;
  /** list: how many members use each key as primary (members that report it: Vigil, Serf 0.10+). */
  readonly primaryKeys: Readonly<Record<string, number>>;
}

export class KeyringDisabledError extends Error {
  override readonly name = 'KeyringDisabledError';
}

/** Serf's answer to a key change when encryption is off (its wording: Serf tools show it). */
const NO_KEYRING = 'No keyring to modify (encryption not enabled)';
/** Ours, for a key operation asked of an agent without encryption. */
export const ENCRYPTION_OFF = 'gossip encryption is not enabled on this agent (--encrypt)';

const DONE = { install: 'gossip key installed', use: 'gossip key is now primary', remove: 'gossip key removed' };

const b64 = (k: Uint8Array) => Buffer.from(k).toString('base64');

/**
 * Live gossip key rotation, as `serf keys` does it: each operation is a Serf internal query that
 * every member (Serf or Vigil) applies to its own keyring and answers. We answer the same queries
 * from Serf agents, and keep our keyring in the data directory so a restart keeps the rotation.
 */
export class KeyManager {
  private readonly queries: SerfQueries;
  private readonly keyring: Keyring | undefined;
  private readonly store: KeyringStore;
  private readonly log: Logger;
  private writes: Promise<void> = Promise.resolve();
  /** Cluster-wide operations run one at a time, as Serf's key manager locks them. */
  private running: Promise<unknown> = Promise.resolve();
  private readonly onChange: () => void;

  constructor(opts: {
    queries: SerfQueries;
    keyring: Keyring | undefined;
    /** Where the keyring is kept across restarts (a DataDir). */
    store: KeyringStore;
    log: Logger;
    /** Called after the local keyring changed (the catalog follows the gossip keys). */
    onChange?: () => void;
  }) {
    this.queries = opts.queries;
    this.keyring = opts.keyring;
    this.store = opts.store;
    this.log = opts.log;
    this.onChange = opts.onChange ?? (() => {});
    for (const op of ['install', 'use', 'remove'] as const) {
      this.queries.handle(SerfKeyQuery[op], (payload) => this.applyRemote(op, payload));
    }
    this.queries.handle(SerfKeyQuery.list, () => this.listResponse());
  }

  /** This agent's keys, base64, primary first. */
  localKeys(): { keys: string[]; primary: string } | undefined {
    if (!this.keyring) return undefined;
    const keys = this.keyring.getKeys().map(b64);
    return { keys, primary: keys[0]! };
  }

  /**
   * Runs a key operation on every member and gathers their answers. Operations from this agent
   * queue behind each other: a `use` and a `remove` racing would reach members in either order.
   */
  run(op: KeyOperation, key?: Uint8Array): Promise<KeyringReport> {
    if (!this.keyring) {
      return Promise.reject(new KeyringDisabledError(ENCRYPTION_OFF));
    }
    const next = this.running.then(() => this.ask(op, key));
    this.running = next.catch(() => {});
    return next;
  }

  /** Waits for keyring writes in flight (the agent is stopping). */
  async flush(): Promise<void> {
    await this.writes;
  }

  private async ask(op: KeyOperation, key?: Uint8Array): Promise<KeyringReport> {
    const payload = op === 'list' ? new Uint8Array(0) : encodeKeyRequest(key!);
    const numNodes = this.queries.memberCount();
    // Relay factor 1: every member also answers through one other, so a keyring change is not
    // reported as unanswered because one datagram was lost (Serf's `keys -relay-factor`); and a
    // member that gossip has not reached by half the timeout is asked directly.
    const { responses, unanswered } = await this.queries.query(SerfKeyQuery[op], payload, {
      relayFactor: 1,
      reask: true,
    });
    const messages: Record<string, string> = {};
    const keys: Record<string, number> = {};
    const primaryKeys: Record<string, number> = {};
    let numErrors = 0;
    for (const [from, raw] of responses) {
      let r: KeyResponse;
      try {
        r = decodeKeyResponse(raw);
      } catch {
        numErrors++;
        messages[from] = 'unreadable response';
        continue;
      }
      if (!r.result) {
        numErrors++;
        messages[from] = r.message;
      } else if (r.message !== '') messages[from] = r.message;
      for (const k of r.keys) keys[k] = (keys[k] ?? 0) + 1;
      if (r.primaryKey) primaryKeys[r.primaryKey] = (primaryKeys[r.primaryKey] ?? 0) + 1;
    }
    const report = { numNodes, unanswered, numResponses: responses.size, numErrors, messages, keys, primaryKeys };
    this.log.info({ op, ...report, keys: undefined, primaryKeys: undefined }, `key ${op} query finished`);
    return report;
  }

  /** As Serf's keyListResponseWithCorrectSize: drop keys until the answer fits a query response. */
  private listResponse(): Uint8Array {
    const local = this.localKeys();
    if (!local)
      return encodeKeyResponse({ result: false, message: 'Keyring is empty (encryption not enabled)', keys: [] });
    const room = QUERY_RESPONSE_LIMIT - this.queries.responseOverhead();
    let keys = local.keys;
    let message = '';
    let out = encodeKeyResponse({ result: true, message, keys, primaryKey: local.primary });
    while (out.length > room && keys.length > 0) {
      keys = keys.slice(0, -1);
      message = `truncated key list response, showing first ${keys.length} of ${local.keys.length} keys`;
      out = encodeKeyResponse({ result: true, message, keys, primaryKey: local.primary });
    }
    if (message)
      this.log.warn({ shown: keys.length, keys: local.keys.length }, 'key list truncated to fit a query response');
    return out;
  }

  private async applyRemote(op: 'install' | 'use' | 'remove', payload: Uint8Array): Promise<Uint8Array> {
    const fail = (message: string) => encodeKeyResponse({ result: false, message, keys: [] });
    if (!this.keyring) return fail(NO_KEYRING);
    let key: Uint8Array;
    try {
      key = decodeKeyRequest(payload);
    } catch (err) {
      return fail(`Failed to decode key request: ${(err as Error).message}`);
    }
    try {
      if (op === 'install') this.keyring.install(key);
      else if (op === 'use') this.keyring.use(key);
      else this.keyring.remove(key);
    } catch (err) {
      this.log.warn({ op, err: (err as Error).message }, 'key query refused');
      return fail((err as Error).message);
    }
    this.log.info({ op, keys: this.keyring.getKeys().length }, DONE[op]);
    this.onChange();
    try {
      await this.persist();
    } catch (err) {
      this.log.error({ err }, 'cannot write the keyring file');
      return fail(`Failed to write keyring file: ${(err as Error).message}`);
    }
    return encodeKeyResponse({ result: true, message: '', keys: [] });
  }

  /** Writes run one after another, so the file always ends with the latest keyring. */
  private persist(): Promise<void> {
    const keyring = this.keyring!;
    const write = this.writes.then(() => this.store.writeKeyring(keyring.getKeys()));
    this.writes = write.catch(() => {});
    return write;
  }
}
