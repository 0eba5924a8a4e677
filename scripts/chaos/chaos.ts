// The chaos run: real agents, one per network namespace on one bridge, under a seeded random
// schedule of faults while registrations churn; invariants checked live and at the end.
//
// Faults (at most MAX_CONCURRENT at once, each reverted after a random 3-12 s; one-way 15-25 s):
//   kill     SIGKILL, then a restart on the same data dir
//   stop     SIGSTOP, then SIGCONT
//   link     the host's veth down, then up (a symmetric partition of one host)
//   oneway   nftables in host A's namespace drops what comes from host B: B cannot reach A, A
//            still reaches B. A is the culprit; B is healthy and must never be declared dead.
//            Every run starts with one; its verdict (third parties' view of A and B) is logged
//   diskfull the last host's data dir is a small tmpfs; the fault fills it, the revert frees it
// Invariants:
//   crash    no agent exits unless we killed it
//   dead     no observer declares a member dead while both have been clean (no fault on either,
//            none ended within GRACE_MS) — this is the asymmetric partition's verdict too; and
//            none still holds one dead HEAL_BOUND_MS after both were last faulted
//   acked    every registration answered 200 (and not deregistered since) is, at the end, on its
//            agent and in every agent's routes
//   routes   once faults stop, every agent's routing tables are identical within ROUTES_BOUND_MS
// The schedule is a function of the seed alone (what happens and when, in run time); the real
// processes' timing is not, so two runs of a seed apply the same faults, not the same packets.

import { type ChildProcess, execFile, spawn as spawnProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { mulberry32 } from '@vigil/agent';
import { NetnsAgent, NetnsLab } from '../../test/integration/harness/netns.ts';

const execFileP = promisify(execFile);

export type FaultKind = 'kill' | 'stop' | 'link' | 'oneway' | 'diskfull';
const KINDS: readonly FaultKind[] = ['kill', 'stop', 'link', 'oneway', 'diskfull'];

export interface ChaosOptions {
  readonly seed: number;
  /** How long faults are applied; then everything is reverted and the end checks run. */
  readonly durationMs: number;
  /** Hosts (>= 7). */
  readonly hosts?: number;
  readonly log?: (line: string) => void;
}

export interface ChaosReport {
  readonly seed: number;
  readonly hosts: number;
  readonly faults: Record<FaultKind, number>;
  readonly registrations: { acked: number; deregistered: number; refused: number; unknown: number };
  /** ms from the end of faults until every agent saw every member alive, and until tables matched. */
  readonly membersConvergedMs: number | null;
  readonly routesConvergedMs: number | null;
  readonly liveChecks: number;
  /** The SDK client's requests to `echo` (on h0): failed ones are excused only while no echo host was clean. */
  readonly sdk: { requests: number; failed: number; excused: number };
  readonly violations: string[];
}

/** Hosts running an `echo` instance (h1..h3); h0 runs the SDK client and is never faulted. */
const ECHO_HOSTS = [1, 2, 3];
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

const KEY = Buffer.alloc(32, 9).toString('base64');
const MAX_CONCURRENT = 2;
/** A host is clean once this long has passed since its last fault ended (LAN profile: suspicion and refutation take seconds). */
const GRACE_MS = 20_000;
const MEMBERS_BOUND_MS = 90_000;
/** Serf's reconnect runs every 30 s: a member dead from a fault comes back within about this long. */
const HEAL_BOUND_MS = 75_000;
const ROUTES_BOUND_MS = 30_000;
const DISK_BYTES = 4 * 1024 * 1024;

interface ActiveFault {
  readonly kind: FaultKind;
  readonly host: number;
  /** oneway: the host whose packets `host` drops. */
  readonly peer?: number;
  readonly revert: () => Promise<void>;
  /** When it was applied (set by the scheduler). */
  from: number;
  /** oneway: each third party's status of `peer` when the drop began. */
  peerBefore?: Map<number, string>;
}

interface Member {
  name: string;
  status: string;
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const n = opts.hosts ?? 7;
  if (n < 7) throw new Error('the chaos run needs at least 7 hosts');
  const log = opts.log ?? (() => {});
  const rand = mulberry32(opts.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const between = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo));
  const names = Array.from({ length: n }, (_, i) => `h${i}`);
  const violations: string[] = [];
  const violate = (what: string) => {
    if (violations.length < 200) violations.push(what);
    log(`VIOLATION ${what}`);
  };
  const faults: Record<FaultKind, number> = { kill: 0, stop: 0, link: 0, oneway: 0, diskfull: 0 };
  const regs = { acked: 0, deregistered: 0, refused: 0, unknown: 0 };
  const acked = new Map<string, number>(); // instance id -> host
  const unknownIds = new Set<string>();
  const started = Date.now();
  const runTime = () => Date.now() - started;

  const lab = await NetnsLab.create(
    `vch${process.pid % 10000}`,
    names.map(() => 0),
  );
  const agents: NetnsAgent[] = [];
  const dataDirs: string[] = [];
  const killedByUs = new Set<NetnsAgent>();
  const lastFaultEnd: number[] = names.map(() => Number.NEGATIVE_INFINITY);
  const active = new Map<number, ActiveFault>();
  /** Every fault's interval per host (the culprit's; a one-way's peer too), for judging SDK failures. */
  const history: { host: number; from: number; to: number }[] = [];
  const helpers: ChildProcess[] = [];
  const outcomes: { t: number; ok: boolean; ms: number; err?: string }[] = [];
  const diskHost = n - 1;
  const diskDir = await mkdtemp(join(tmpdir(), 'vigil-chaos-disk-'));
  let mounted = false;
  let stopping = false;

  const sh = (cmd: string, args: string[]) => execFileP(cmd, args, { timeout: 10_000 });
  const nsCurl = async (i: number, args: string[]): Promise<{ status: number; body: string }> => {
    const { stdout } = await execFileP(
      'ip',
      ['netns', 'exec', lab.hosts[i]!, 'curl', '-sS', '--max-time', '3', '-w', '\n%{http_code}', ...args],
      { timeout: 6_000 },
    );
    const cut = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
  };
  const url = (path: string) => `http://127.0.0.1:7948${path}`;
  const register = (i: number, body: string) =>
    nsCurl(i, ['-X', 'PUT', '-H', 'content-type: application/json', '-d', body, url('/v1/agent/service/register')]);

  const spawn = async (i: number) => {
    const agent = await NetnsAgent.spawn({
      node: names[i]!,
      ns: lab.hosts[i]!,
      addr: lab.addrs[i]!,
      dataDir: dataDirs[i],
      extraArgs: [
        '--encrypt',
        KEY,
        '--profile',
        'lan',
        '--failback-hold-down',
        '5s',
        ...(i === 0 ? [] : ['--join', `${lab.addrs[0]}:7946`]),
      ],
    });
    agents[i] = agent;
    void agent.exited.then((exit) => {
      if (!killedByUs.has(agent) && !stopping) {
        violate(`${names[i]} exited by itself (${JSON.stringify(exit)}):\n${agent.logs.slice(-2000)}`);
      }
    });
    return agent;
  };

  try {
    await sh('mount', ['-t', 'tmpfs', '-o', `size=${DISK_BYTES}`, 'tmpfs', diskDir]);
    mounted = true;
    for (let i = 0; i < n; i++) {
      const dir = i === diskHost ? join(diskDir, 'data') : await mkdtemp(join(tmpdir(), `vigil-chaos-${names[i]}-`));
      await mkdir(dir, { recursive: true });
      dataDirs[i] = dir;
    }
    // One at a time: seven Node agents starting at once beside other load (a load average of ~25
    // on 2 cores) took more than 40 s to answer, and start-up speed is not what chaos tests.
    for (let i = 0; i < n; i++) await (await spawn(i)).waitForHttp(60_000);
    const members = async (i: number) => {
      const r = await nsCurl(i, ['--fail', url('/v1/members')]);
      return JSON.parse(r.body) as Member[];
    };
    const allAlive = async () => {
      for (let i = 0; i < n; i++) {
        const ms = await members(i).catch(() => []);
        if (ms.length !== n || ms.some((m) => m.status !== 'alive')) return false;
      }
      return true;
    };
    if (!(await until(allAlive, 60_000, 1_000))) throw new Error('the cluster never formed');
    log(`cluster of ${n} formed in ${runTime()} ms; faults for ${opts.durationMs} ms, seed ${opts.seed}`);
    // Traffic: echo instances on h1..h3 (HTTP-checked by their agents), an SDK client on h0.
    const inNs = (i: number, file: string, args: string[]) => {
      // execArgv carries --conditions=vigil-source, so the SDK client runs the sources as we do.
      const node = [process.execPath, ...process.execArgv, here(file), ...args];
      const child = spawnProcess('ip', ['netns', 'exec', lab.hosts[i]!, ...node], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      helpers.push(child);
      return child;
    };
    for (const i of ECHO_HOSTS) {
      inNs(i, './echo.ts', [`echo-${names[i]}`, '8080']);
      const addr = lab.addrs[i]!;
      const body = JSON.stringify({
        Name: 'echo',
        ID: `echo-${names[i]}`,
        Address: addr,
        Port: 8080,
        Check: { HTTP: `http://${addr}:8080/`, Interval: '1s', Timeout: '1s' },
      });
      const registered = await until(async () => (await register(i, body)).status === 200, 20_000, 500);
      if (!registered) throw new Error(`could not register echo on ${names[i]}`);
    }
    const echoRouted = async () => {
      const r = await nsCurl(0, ['--fail', url('/v1/routes/echo')]);
      const t = JSON.parse(r.body) as { endpoints: { share: number }[] };
      return t.endpoints.filter((e) => e.share > 0).length === ECHO_HOSTS.length;
    };
    if (!(await until(echoRouted, 60_000, 1_000))) throw new Error('echo never became routable on h0');
    const client = inNs(0, './sdk-client.ts', []);
    let partial = '';
    client.stdout!.on('data', (d) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop()!;
      for (const l of lines) if (l.trim()) outcomes.push(JSON.parse(l));
    });
    let clientErr = '';
    client.stderr!.on('data', (d) => {
      clientErr += d;
    });
    // The schedule's clock starts here: the same seed applies the same faults at the same offsets.
    const faultsFrom = Date.now();

    // ---- faults ------------------------------------------------------------------------------
    const apply = async (kind: FaultKind, host: number): Promise<ActiveFault | undefined> => {
      const agent = agents[host]!;
      const pid = agent.child.pid!;
      switch (kind) {
        case 'kill': {
          killedByUs.add(agent);
          process.kill(pid, 'SIGKILL');
          await agent.exited;
          return {
            kind,
            host,
            from: 0,
            revert: async () => {
              await spawn(host);
            },
          };
        }
        case 'stop':
          process.kill(pid, 'SIGSTOP');
          return { kind, host, from: 0, revert: async () => void process.kill(pid, 'SIGCONT') };
        case 'link':
          await sh('ip', ['-n', lab.hub, 'link', 'set', `p${host}`, 'down']);
          return {
            kind,
            host,
            from: 0,
            revert: async () => void (await sh('ip', ['-n', lab.hub, 'link', 'set', `p${host}`, 'up'])),
          };
        case 'oneway': {
          const peer = pick(names.map((_, i) => i).filter((i) => i !== host && !active.has(i)));
          const ns = ['netns', 'exec', lab.hosts[host]!, 'nft'];
          await sh('ip', [...ns, 'add', 'table', 'inet', 'chaos']);
          await sh('ip', [...ns, 'add', 'chain', 'inet', 'chaos', 'in', '{ type filter hook input priority 0 ; }']);
          await sh('ip', [...ns, 'add', 'rule', 'inet', 'chaos', 'in', 'ip', 'saddr', lab.addrs[peer]!, 'drop']);
          return {
            kind,
            host,
            peer,
            from: 0,
            revert: async () => void (await sh('ip', [...ns, 'delete', 'table', 'inet', 'chaos'])),
          };
        }
        case 'diskfull': {
          // Fills the tmpfs; dd stops at ENOSPC (its error is the point).
          await sh('dd', ['if=/dev/zero', `of=${join(diskDir, 'filler')}`, 'bs=64k']).catch(() => {});
          return { kind, host: diskHost, from: 0, revert: () => rm(join(diskDir, 'filler'), { force: true }) };
        }
      }
    };
    /** The asymmetric partition's verdict, read from the clean third parties just before it ends. */
    const verdict = async (f: ActiveFault) => {
      const peer = f.peer!;
      if (history.some((h) => h.host === peer && h.to >= f.from)) {
        log(`no verdict for ${names[f.host]} dropping ${names[peer]}: ${names[peer]} had a fault of its own meanwhile`);
        return;
      }
      const seen: string[] = [];
      const now = Date.now();
      for (let o = 0; o < n; o++) {
        if (o === f.host || o === peer || !clean(o, now)) continue;
        const view = await members(o).catch(() => undefined);
        const status = (i: number) => view?.find((m) => m.name === names[i])?.status ?? '?';
        // Dead already when the drop began (a fault of its own just before, not yet healed by the
        // reconnect): this observer's view says nothing about the one-way drop.
        const before = f.peerBefore?.get(o);
        seen.push(
          `${names[o]}: ${names[f.host]}=${status(f.host)} ${names[peer]}=${status(peer)}${before === 'dead' ? ' (dead before the drop)' : ''}`,
        );
        if (status(peer) === 'dead' && before !== undefined && before !== 'dead')
          violate(`one-way drop on ${names[f.host]}: healthy ${names[peer]} declared dead by ${names[o]}`);
      }
      log(`verdict for ${names[f.host]} dropping ${names[peer]}: ${seen.join('; ')}`);
    };
    const end = async (host: number) => {
      const f = active.get(host);
      if (!f) return;
      if (f.kind === 'oneway') await verdict(f);
      history.push({ host, from: f.from, to: Date.now() });
      if (f.peer !== undefined) history.push({ host: f.peer, from: f.from, to: Date.now() });
      await f.revert().catch((err: Error) => log(`revert ${f.kind} on ${names[host]} failed: ${err.message}`));
      // Active until reverted: a link coming up takes a few hundred ms on a loaded host, and a live
      // check in between must not take the host for clean (seed 1 reported h4 "dead while both
      // were clean" 190 ms before its link was up again).
      lastFaultEnd[host] = Date.now();
      if (f.peer !== undefined) lastFaultEnd[f.peer] = Date.now();
      active.delete(host);
      log(`${runTime()} ms: end ${f.kind} on ${names[host]}`);
    };
    const pending: Promise<void>[] = [];

    // ---- registrations -----------------------------------------------------------------------
    let counter = 0;
    const churn = async () => {
      const usable = names.map((_, i) => i).filter((i) => !['kill', 'stop'].includes(active.get(i)?.kind ?? ''));
      const host = pick(usable);
      const ours = [...acked].filter(([, h]) => h === host);
      if (ours.length > 3 && rand() < 0.4) {
        const [id] = pick(ours);
        const r = await nsCurl(host, ['-X', 'PUT', url(`/v1/agent/service/deregister/${id}`)]).catch(() => undefined);
        if (r?.status === 200) {
          acked.delete(id);
          regs.deregistered++;
        } else {
          acked.delete(id);
          unknownIds.add(id);
          regs.unknown++;
        }
        return;
      }
      const id = `c${counter++}-${names[host]}`;
      const body = JSON.stringify({ Name: 'churn', ID: id, Port: 9000 + (counter % 1000), Priority: counter % 2 });
      const r = await register(host, body).catch(() => undefined);
      if (r?.status === 200) {
        acked.set(id, host);
        regs.acked++;
      } else if (r !== undefined && r.status >= 400 && r.status < 600) {
        regs.refused++; // refused (a full disk: 5xx) is not acknowledged, so never counted as lost
      } else {
        unknownIds.add(id);
        regs.unknown++;
      }
    };

    // ---- live invariant ------------------------------------------------------------------------
    let liveChecks = 0;
    const clean = (i: number, now: number) => !active.has(i) && now - lastFaultEnd[i]! >= GRACE_MS;
    const culprits = () => new Set([...active.values()].map((f) => f.host));
    /** The healthy sides of running one-way drops: left alone so the verdict is about them. */
    const peers = () => new Set([...active.values()].flatMap((f) => (f.peer === undefined ? [] : [f.peer])));
    // A member declared dead while it and the observer are clean is a false verdict. One declared
    // dead while it was cut off may stay dead after the fault ends until Serf's reconnect (every
    // 30 s) brings it back: that is the designed healing, bounded by HEAL_BOUND_MS, not a verdict.
    const seen = new Map<string, { status: string; round: number }>();
    let round = 0;
    const liveCheck = async () => {
      round++;
      const now = Date.now();
      const observers = names.map((_, i) => i).filter((i) => clean(i, now));
      for (const o of observers) {
        const view = await members(o).catch(() => undefined);
        if (!view) continue;
        liveChecks++;
        const later = Date.now();
        for (const m of view) {
          const idx = names.indexOf(m.name);
          const key = `${o}/${m.name}`;
          const before = seen.get(key);
          seen.set(key, { status: m.status, round });
          if (idx < 0 || m.status !== 'dead' || !clean(idx, later) || culprits().has(idx)) continue;
          if (before !== undefined && before.round === round - 1 && before.status !== 'dead') {
            violate(`${runTime()} ms: ${names[o]} declared ${m.name} dead while both were clean`);
          } else if (later - lastFaultEnd[idx]! > HEAL_BOUND_MS && later - lastFaultEnd[o]! > HEAL_BOUND_MS) {
            violate(`${runTime()} ms: ${names[o]} still holds ${m.name} dead ${HEAL_BOUND_MS} ms after their faults`);
          }
        }
      }
    };

    // ---- the schedule ----------------------------------------------------------------------
    let nextFault = 2_000;
    let nextChurn = 0;
    let nextLive = 0;
    for (;;) {
      const t = Date.now() - faultsFrom;
      if (t >= opts.durationMs) break;
      if (t >= nextFault) {
        nextFault = t + between(2_000, 6_000);
        if (active.size < MAX_CONCURRENT) {
          // The first fault is always the asymmetric partition: every run includes that scenario.
          const kind = faults.oneway === 0 ? 'oneway' : pick(KINDS);
          const candidates = names
            .map((_, i) => i)
            .filter((i) => !active.has(i) && !peers().has(i) && (kind !== 'diskfull' || i === diskHost) && i !== 0);
          if (candidates.length > 0 && !(kind === 'diskfull' && active.has(diskHost))) {
            const host = pick(candidates);
            // An asymmetric partition is held long enough for suspicion to run its course.
            const hold = kind === 'oneway' ? between(15_000, 25_000) : between(3_000, 12_000);
            const f = await apply(kind, host).catch((err: Error) => {
              log(`apply ${kind} on ${names[host]} failed: ${err.message}`);
              return undefined;
            });
            if (f) {
              f.from = Date.now();
              active.set(f.host, f);
              if (f.peer !== undefined) {
                const peer = f.peer;
                f.peerBefore = new Map();
                for (let o = 0; o < n; o++) {
                  if (o === f.host || o === peer) continue;
                  const view = await members(o).catch(() => undefined);
                  const st = view?.find((m) => m.name === names[peer])?.status;
                  if (st !== undefined) f.peerBefore.set(o, st);
                }
              }
              faults[kind]++;
              log(
                `${runTime()} ms: ${kind} on ${names[f.host]}${f.peer !== undefined ? ` (drops ${names[f.peer]})` : ''} for ${hold} ms`,
              );
              pending.push(sleep(hold).then(() => end(f.host)));
            }
          }
        }
      }
      if (t >= nextChurn) {
        nextChurn = t + between(500, 1_500);
        await churn();
      }
      if (t >= nextLive) {
        nextLive = t + 3_000;
        await liveCheck();
      }
      await sleep(100);
    }

    // ---- faults stop: convergence and the end checks -------------------------------------------
    await Promise.all(pending);
    for (const host of [...active.keys()]) await end(host);
    const calm = Date.now();
    log(`${runTime()} ms: faults stopped`);
    const membersOk = await until(allAlive, MEMBERS_BOUND_MS, 1_000);
    const membersConvergedMs = membersOk ? Date.now() - calm : null;
    if (!membersOk) violate(`members did not all see each other alive within ${MEMBERS_BOUND_MS} ms`);
    const routesAt = Date.now();
    let lastTables: string[] = [];
    const tablesEqual = async () => {
      lastTables = await Promise.all(
        names.map(async (_, i) => {
          const r = await nsCurl(i, ['--fail', url('/v1/routes')]).catch(() => undefined);
          return r ? JSON.stringify((JSON.parse(r.body) as { tables: unknown }).tables) : `unreachable ${i}`;
        }),
      );
      return lastTables.every((t) => t === lastTables[0]);
    };
    const routesOk = await until(tablesEqual, ROUTES_BOUND_MS, 1_000);
    const routesConvergedMs = routesOk ? Date.now() - routesAt : null;
    if (!routesOk) violate(`routing tables differ ${ROUTES_BOUND_MS} ms after the members converged`);
    // Acknowledged registrations: on their agent, and routed by everyone.
    const tables = lastTables.map((t) => {
      try {
        return JSON.parse(t) as { service: string; endpoints: { id: string }[] }[];
      } catch {
        return [];
      }
    });
    for (const [id, host] of acked) {
      const local = await nsCurl(host, ['--fail', url('/v1/agent/services')]).catch(() => undefined);
      if (!local || !(id in (JSON.parse(local.body) as Record<string, unknown>))) {
        violate(`acknowledged registration ${id} lost on ${names[host]}`);
      }
      for (const [i, t] of tables.entries()) {
        const churnTable = t.find((x) => x.service === 'churn');
        if (!churnTable?.endpoints.some((e) => e.id === id)) violate(`${id} missing from ${names[i]}'s routes`);
      }
    }
    client.kill('SIGTERM');
    const echoClean = (t: number) =>
      ECHO_HOSTS.some((h) => !history.some((f) => f.host === h && f.from <= t && t <= f.to + GRACE_MS));
    const sdk = { requests: outcomes.length, failed: 0, excused: 0 };
    for (const o of outcomes) {
      if (o.ok) continue;
      sdk.failed++;
      if (!echoClean(o.t)) sdk.excused++;
      else violate(`SDK request at +${o.t - faultsFrom} ms failed while an echo host was clean: ${o.err}`);
    }
    if (outcomes.length === 0) violate(`the SDK client sent nothing: ${clientErr.slice(-2000)}`);
    return {
      seed: opts.seed,
      hosts: n,
      faults,
      registrations: regs,
      membersConvergedMs,
      routesConvergedMs,
      liveChecks,
      sdk,
      violations,
    };
  } finally {
    stopping = true;
    for (const h of helpers) h.kill('SIGKILL');
    for (const a of agents) {
      if (!a) continue;
      if (a.running && a.child.pid !== undefined) {
        try {
          process.kill(a.child.pid, 'SIGCONT');
        } catch {
          // gone
        }
      }
      await a.dispose().catch(() => {});
    }
    await lab.destroy().catch((err: Error) => log(`lab cleanup: ${err.message}`));
    if (mounted) await sh('umount', [diskDir]).catch((err: Error) => log(`umount: ${err.message}`));
    await rm(diskDir, { recursive: true, force: true });
    for (const d of dataDirs.slice(0, -1)) if (d) await rm(d, { recursive: true, force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(check: () => Promise<boolean>, timeoutMs: number, everyMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}
