import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../data-dir/atomic-write.ts';
import { DATA_FILES } from '../data-dir/files.ts';
import type { CheckStatus } from '../health/status.ts';
import type { Maintenance } from './maintenance.ts';

/**
 * What the registry keeps in the data directory, in two files so that the frequent one never
 * rewrites the precious one:
 * - `services.json`: registrations, check definitions and maintenance flags. Written before an
 *   API call that changes them answers, so an acknowledged registration survives a crash.
 * - `checks-state.json`: the last state of each check, written shortly after it changes (and on
 *   stop). Losing the last moments of it to a crash only means a check re-learns its state.
 * Both are replaced atomically (temporary file, fsync, rename, folder fsync): a crash leaves the
 * old file or the new one, never a torn mix.
 */

export const SERVICES_FILE = DATA_FILES.services;
export const CHECK_STATE_FILE = DATA_FILES.checkState;
export const STORE_VERSION = 1;

export type Source = 'api' | 'config';

/** Definitions are stored as registration bodies (Consul's shape) and re-validated on load. */
export interface StoredDefinitions {
  readonly version: number;
  readonly index: number;
  readonly services: readonly {
    readonly source: Source;
    readonly service: Record<string, unknown>;
    readonly maintenance?: Maintenance | undefined;
  }[];
  readonly checks: readonly { readonly source: Source; readonly check: Record<string, unknown> }[];
  readonly nodeMaintenance?: Maintenance | undefined;
}

export interface StoredCheckState {
  readonly status: CheckStatus;
  readonly output: string;
  /** When the status last changed (epoch ms). */
  readonly since: number;
  /** TTL checks: when the TTL runs out (epoch ms). */
  readonly ttlExpiresAt?: number | undefined;
}

export interface StoredState {
  readonly version: number;
  readonly index: number;
  readonly checks: Readonly<Record<string, StoredCheckState>>;
}

/** A data file that exists but cannot be used; the message says which and what to do. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
}

/**
 * Serialises writes of one file and coalesces them: a write asked for while another runs waits
 * for it and then writes the newest snapshot, once, for everyone who asked meanwhile. The promise
 * `write()` returns settles when a write that includes the caller's change is durable.
 */
export class SnapshotWriter {
  private readonly path: string;
  private readonly snapshot: () => string;
  private chain: Promise<void> = Promise.resolve();
  private next: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(path: string, snapshot: () => string) {
    this.path = path;
    this.snapshot = snapshot;
  }

  write(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.next) return this.next;
    const run = () => {
      this.next = undefined; // changes from here on need another write
      return writeFileAtomic(this.path, this.snapshot());
    };
    const result = this.chain.then(run, run);
    this.next = result;
    this.chain = result.catch(() => {});
    return result;
  }

  /** Writes after `delayMs` unless a write is asked for sooner; errors go to `onError`. */
  writeSoon(delayMs: number, onError: (err: unknown) => void): void {
    if (this.timer || this.next) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.write().catch(onError);
    }, delayMs);
  }

  /** Writes now if a delayed write is pending, and waits for every write in progress. */
  async flush(): Promise<void> {
    if (this.timer) await this.write();
    await this.chain;
  }
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads `services.json`; undefined when there is none yet. A file that cannot be read stops the agent. */
export async function loadDefinitions(dataDir: string): Promise<StoredDefinitions | undefined> {
  const path = join(dataDir, SERVICES_FILE);
  let parsed: unknown;
  try {
    parsed = await readJson(path);
  } catch (err) {
    throw new StoreError(
      `${path} cannot be read (${(err as Error).message}); it holds this agent's registrations, so the agent ` +
        'will not start without it: restore it, or move it away to start with no services',
    );
  }
  if (parsed === undefined) return undefined;
  if (
    !isObject(parsed) ||
    parsed.version !== STORE_VERSION ||
    !Array.isArray(parsed.services) ||
    !Array.isArray(parsed.checks)
  ) {
    throw new StoreError(
      `${path} is not a version ${STORE_VERSION} services file; move it away to start with no services`,
    );
  }
  return parsed as unknown as StoredDefinitions;
}

/** Reads `checks-state.json`; a missing or unreadable one just means checks start from their initial state. */
export async function loadState(dataDir: string): Promise<{ state?: StoredState; problem?: string }> {
  const path = join(dataDir, CHECK_STATE_FILE);
  try {
    const parsed = await readJson(path);
    if (parsed === undefined) return {};
    if (!isObject(parsed) || parsed.version !== STORE_VERSION || !isObject(parsed.checks)) {
      return { problem: `${path} is not a version ${STORE_VERSION} check state file` };
    }
    return { state: parsed as unknown as StoredState };
  } catch (err) {
    return { problem: `${path} cannot be read: ${(err as Error).message}` };
  }
}

/** Removes temporary files that a crash left between write and rename. Only the lock holder may call it. */
export async function removeStaleTemporaries(dataDir: string): Promise<number> {
  const names = await readdir(dataDir).catch(() => [] as string[]);
  const stale = names.filter((n) => n.startsWith(`${SERVICES_FILE}.tmp-`) || n.startsWith(`${CHECK_STATE_FILE}.tmp-`));
  await Promise.all(stale.map((n) => rm(join(dataDir, n), { force: true })));
  return stale.length;
}
