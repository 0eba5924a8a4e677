import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { MembershipService } from '../../src/membership/membership-service.ts';
import { PROFILES } from '../../src/membership/profiles.ts';

export interface WarnLoggedMembership {
  readonly service: MembershipService;
  /** The warn-and-above log records so far. */
  readonly records: () => { msg: string; stallMs?: number }[];
  /** Stops the service and removes its data dir. */
  readonly close: () => Promise<void>;
}

/** A real LAN-profile membership service on loopback whose warnings the test reads. */
export async function warnLoggedMembership(name: string): Promise<WarnLoggedMembership> {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const dataDir = await mkdtemp(join(tmpdir(), `vigil-${name}-`));
  const service = await MembershipService.start({
    name,
    bind: { host: '127.0.0.1', port: 0 },
    meta: new Uint8Array(0),
    profile: PROFILES.lan,
    keys: [],
    dataDir,
    log: pino({ level: 'warn' }, sink),
  });
  return {
    service,
    records: () => lines.map((l) => JSON.parse(l) as { msg: string; stallMs?: number }),
    close: async () => {
      await service.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Holds this thread (the event loop with it) for `ms`, as a CPU-starved process is held. */
export function stallEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
