// `npm run bench:membership -w scripts -- [--n 5,20,50] [--runs K] [--out FILE] [--baseline DIR] [...]`
//
// --baseline DIR: DIR is another checkout of this repository (with node_modules installed); each
// run then also starts a cluster of DIR's agent, and the tables show it beside this checkout's
// Vigil, with a Vigil/baseline ratio: a change's before and after from one run on one machine.
// --baseline-bin PATH does the same with an agent bin (two unpacked packages side by side).
//
// Serf 0.9 (Debian's `serf`) and Vigil side by side in one run: the same N, the LAN profile on
// both, loopback, the same machine, the same measurements. Each run of a given N starts a fresh
// cluster of each kind (alternating which goes first) and, on it, in order:
//   1. join convergence: every agent is up (not joined); all N-1 joins to agent 0 are issued at
//      once through each agent's API; time until every agent lists all N members alive;
//   2. idle cost: after a settle, a quiet window without polling: CPU (utime+stime from
//      /proc/PID/stat), RSS (VmRSS) and membership bytes (tcpdump on lo, see capture.ts);
//   3. SIGSTOP one agent for 3 s, then SIGCONT: any survivor reporting it failed/dead is a false
//      positive; for Vigil also whether it was demoted (suspect, confirmed) and how long after
//      SIGCONT every survivor shows it alive again;
//   4. SIGKILL one (or --kills) agent(s): time until the first and until every survivor reports it
//      failed (Serf) / dead (Vigil); for Vigil also until every survivor shows it confirmed
//      suspect (or dead);
//   5. graceful leave of one or more agents (Vigil: SIGTERM, its contract; Serf: `leave` over RPC,
//      as `serf leave` does): every other agent must show `left`, never failed/dead.
// With --stress-only (issue 19), each cluster start instead runs, right after the join:
//   a. SIGKILL one agent 5 s after the join converged, while the cores are still busy: time until
//      every survivor shows it failed/dead (and, Vigil, confirmed suspect);
//   b. SIGKILL another, restart it 3 s later with the same name, ports and data directory (Serf,
//      which the bench runs without a snapshot file, with -join to agent 0): time until every
//      observer shows it alive, and the suspect / confirmed views of it once an observer had it back;
//   and counts, over both, every suspect / confirmed-suspect / failed view of a healthy agent.
// Views are sampled every 50 ms per agent. Serf's come from its agent RPC (`members`) over one
// persistent TCP connection per agent, the protocol `serf members` uses, without forking a process
// per poll (Serf's event stream was not used: the Serf agent coalesces member events, which would
// delay what we time). Vigil's come from each agent's /v1/events stream (one GET /v1/members, then
// member events), so sampling costs the agents nothing: polling 50 Node agents with HTTP GETs every
// 50 ms took a large share of this 2-core host, against Vigil, while Serf's RPC is cheap for Go.
// Everything is bounded in time and count; every process and temporary directory is removed at
// the end, also on Ctrl-C.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Capture, type CaptureTotals } from './capture.ts';
import {
  type Cluster,
  type Crash,
  type Impl,
  liveChildren,
  type SeenMember,
  SerfCluster,
  type View,
  VigilCluster,
  vigilBinOf,
} from './clusters.ts';
import { clearReferenced, cpuSeconds, rollupBytes, rssParts } from './proc-stats.ts';

// ---- options -----------------------------------------------------------------------------------

interface Options {
  ns: number[];
  runs: number | undefined;
  out: string | undefined;
  idleSeconds: number;
  kills: number;
  leaves: number;
  joinStarts: number;
  idleOnly: boolean;
  /** Seconds from the join to the --idle-only window. */
  idleWarmupS: number;
  stressOnly: boolean;
  /** Skip Serf: a quick look at Vigil's own figures (crash stages), no Serf ratio. */
  vigilOnly: boolean;
  /** Append each crash's survivors' verdict logs and probe trails (JSON lines) to this file. */
  dumpTrails: string | undefined;
  encrypt: boolean;
  maxMinutes: number;
  pollMs: number;
  maxLoad: number;
  /** Another checkout of the repository whose agent runs as the `baseline` column. */
  baseline: string | undefined;
  /** Or the baseline agent's bin itself (an unpacked package's). */
  baselineBin: string | undefined;
  vigilBin: string | undefined;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    ns: [5, 20, 50],
    runs: undefined,
    out: undefined,
    idleSeconds: 20,
    kills: 2,
    leaves: 4,
    joinStarts: 0,
    idleOnly: false,
    idleWarmupS: IDLE_WARMUP_S,
    stressOnly: false,
    vigilOnly: false,
    dumpTrails: undefined,
    encrypt: false,
    maxMinutes: 120,
    pollMs: 50,
    maxLoad: 6,
    baseline: undefined,
    baselineBin: undefined,
    vigilBin: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const int = (min: number, max: number) => {
      const v = Number(val());
      if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${a}: an integer from ${min} to ${max}`);
      return v;
    };
    if (a === '--n') {
      o.ns = val()
        .split(',')
        .map((s) => Number(s));
      if (o.ns.some((n) => !Number.isInteger(n) || n < 5 || n > 100)) throw new Error('--n: integers from 5 to 100');
    } else if (a === '--runs') o.runs = int(0, 50);
    else if (a === '--out') o.out = val();
    else if (a === '--idle-seconds') o.idleSeconds = int(2, 120);
    else if (a === '--kills') o.kills = int(1, 5);
    else if (a === '--leaves') o.leaves = int(1, 10);
    else if (a === '--join-starts') o.joinStarts = int(0, 100);
    else if (a === '--idle-only') o.idleOnly = true;
    else if (a === '--idle-warmup') o.idleWarmupS = int(5, 1800);
    else if (a === '--stress-only') o.stressOnly = true;
    else if (a === '--vigil-only') o.vigilOnly = true;
    else if (a === '--dump-trails') o.dumpTrails = resolve(val());
    else if (a === '--encrypt') o.encrypt = true;
    else if (a === '--max-minutes') o.maxMinutes = int(1, 600);
    else if (a === '--poll-ms') o.pollMs = int(5, 50);
    else if (a === '--max-load') o.maxLoad = int(1, 1000);
    else if (a === '--baseline') o.baseline = resolve(val());
    else if (a === '--baseline-bin') o.baselineBin = resolve(val());
    else if (a === '--vigil-bin') o.vigilBin = val();
    else if (a === '--help' || a === '-h') {
      console.log(
        'usage: membership.ts [--n 5,20,50] [--runs K] [--out FILE.json] [--idle-seconds 20] [--kills 2]\n' +
          '                     [--leaves 4] [--join-starts J] [--encrypt] [--max-minutes 120] [--poll-ms 50]\n' +
          '                     [--max-load 6] [--baseline DIR] [--vigil-bin PATH] [--stress-only] [--vigil-only]\n' +
          '  --baseline DIR: also run the agent of DIR, another checkout of this repository with its\n' +
          '    node_modules, and show it beside this one (Vigil/baseline): before and after in one run\n' +
          '  --baseline-bin PATH: the same with that agent bin (an unpacked package: .../@vigil/agent/bin/vigil.js)\n' +
          "  --vigil-bin: the agent bin to run (default: the repository's, on the TypeScript sources); hosts run\n" +
          '               the bundled package: scripts/package-deb.sh, then .../node_modules/@vigil/agent/bin/vigil.js\n' +
          '  --vigil-only: no Serf cluster (no ratios): a quick look at the crash timeline and stages\n' +
          "  --dump-trails FILE: append each crash's survivors' verdict logs and probe trails to FILE (JSON lines)\n" +
          '  --max-load: before each cluster start, wait (at most 1 min) for the 1-min load average to drop below this\n' +
          '  --runs: full cluster starts per N and implementation (default 5 for N <= 20, 3 above)\n' +
          '  --join-starts: extra cluster starts per N and implementation that only time the join\n' +
          '  --stress-only: cluster starts that only run a crash 5 s after the join and a restart 3 s after a\n' +
          '    SIGKILL, counting false suspect/confirmed/failed views of healthy agents (issue 19)\n' +
          '  --idle-only: cluster starts that only measure the idle cost, in steady state: the window opens\n' +
          `               ${IDLE_WARMUP_S} s after the join (--idle-warmup S to change it) and lasts one push/pull\n` +
          '               period (30 s; 60 s at N = 50), so each agent does one push/pull in it\n',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a} (try --help)`);
  }
  return o;
}

// ---- small helpers -------------------------------------------------------------------------------

const now = () => performance.now();

/** memberlist's (and Vigil's) push/pull period at the LAN profile: 30 s, scaled up beyond 32 nodes. */
const pushPullPeriodS = (n: number) => (n <= 32 ? 30 : (Math.ceil(Math.log2(n) - 5) + 1) * 30);
/**
 * When the --idle-only window opens, after the join. Both agents' first push/pull falls within 60 s
 * of the start, which is what the window used to wait for (65 s), but a Node agent is still warming
 * up then: its idle paths run about once a second, so V8 reaches their tiering thresholds and
 * compiles them (Maglev, on worker threads) for minutes after the start, and its first
 * memory-reducing GC comes 1-2 minutes in and deoptimises code that is then compiled again. At N =
 * 50 the same packaged agent used 0.63 % of a core in a window opening 65 s after the join (Serf
 * 0.37 %) and 0.37-0.55 % at 300 s in three runs (Serf 0.32-0.43 %: Go has no warm-up). An agent
 * runs for days, so 300 s, past the warm-up, is the default; --idle-warmup 65 measures the warm-up.
 */
const IDLE_WARMUP_S = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function quantile(xs: readonly number[], q: number): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  // Nearest rank: the median of an even count is the mean of the two middle values.
  if (q === 0.5) {
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1]! + s[m]!) / 2;
  }
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}
const median = (xs: readonly number[]) => quantile(xs, 0.5);
const p90 = (xs: readonly number[]) => quantile(xs, 0.9);

interface PollOptions {
  readonly observers: readonly number[];
  readonly pollMs: number;
  readonly timeoutMs: number;
  /** Called for each answer, with the time the poll was sent and answered. */
  onView(i: number, view: View, sentAt: number, at: number): void;
  /** Checked after each answer; true ends the watch. */
  done(): boolean;
}

/** Polls each observer in its own loop (one request in flight per agent) until done or timeout. */
async function watch(cluster: Cluster, p: PollOptions): Promise<{ timedOut: boolean; errors: number }> {
  const deadline = now() + p.timeoutMs;
  let stop = false;
  let errors = 0;
  await Promise.all(
    p.observers.map(async (i) => {
      while (!stop) {
        const sentAt = now();
        try {
          const view = await cluster.view(i);
          p.onView(i, view, sentAt, now());
        } catch {
          errors++;
        }
        if (p.done()) stop = true;
        if (now() > deadline) stop = true;
        const wait = p.pollMs - (now() - sentAt);
        if (!stop && wait > 0) await sleep(wait);
      }
    }),
  );
  return { timedOut: !p.done(), errors };
}

// ---- scenarios ---------------------------------------------------------------------------------

interface JoinResult {
  /** ms from issuing the joins until every agent's latest view lists all N alive; null: timed out. */
  ms: number | null;
  joinErrors: string[];
  missing?: string;
  /** CPU seconds all agents used from issuing the joins to convergence, over that wall time: cores busy. */
  cpuCoresBusy?: number;
}

async function joinConvergence(c: Cluster, pollMs: number, timeoutMs: number): Promise<JoinResult> {
  const all = c.agents.map((_, i) => i);
  const ok = new Array<boolean>(c.n).fill(false);
  const lacking = new Array<string>(c.n).fill('?');
  let convergedAt: number | undefined;
  const joinErrors: string[] = [];
  const pids = all.map((i) => c.pid(i));
  const cpu0 = await Promise.all(pids.map((p) => cpuSeconds(p).catch(() => 0)));
  const t0 = now();
  const joins = c.joinAll().catch((err: Error) => {
    joinErrors.push(err.message);
  });
  const res = await watch(c, {
    observers: all,
    pollMs,
    timeoutMs,
    onView(i, view, _sent, at) {
      const gaps = c.names.filter((n) => view.get(n)?.status !== 'alive');
      ok[i] = gaps.length === 0;
      lacking[i] = gaps.join(',');
      if (convergedAt === undefined && ok.every(Boolean)) convergedAt = at;
    },
    done: () => convergedAt !== undefined,
  });
  await joins;
  if (res.timedOut || convergedAt === undefined) {
    const missing = c.names
      .map((n, i) => (ok[i] ? '' : `${n} lacks ${lacking[i]}`))
      .filter(Boolean)
      .join('; ');
    return { ms: null, joinErrors, missing };
  }
  const cpu1 = await Promise.all(pids.map((p) => cpuSeconds(p).catch(() => 0)));
  const busy = cpu1.reduce((a, x, i) => a + x - cpu0[i]!, 0) / ((now() - t0) / 1000);
  return { ms: convergedAt - t0, joinErrors, cpuCoresBusy: busy };
}

interface IdleResult {
  cpuPercent: number[];
  rssMiB: number[];
  /** RssAnon: heap and stacks, memory only this process holds. */
  anonMiB: number[];
  /** Pages touched during the idle window (smaps_rollup Referenced): the working set. */
  workingSetMiB: number[];
  /** Proportional set size: shared pages (the binary's code) split among the processes mapping them. */
  pssMiB: number[];
  /** Membership payload bytes per second divided by N. */
  bytesPerSecPerAgent: number;
  udpBytesPerSecPerAgent: number;
  tcpBytesPerSecPerAgent: number;
  /** Vigil's libp2p catalog plane (0 for Serf, which has none), and both planes together. */
  p2pBytesPerSecPerAgent: number;
  allBytesPerSecPerAgent: number;
  capture: CaptureTotals & { seconds: number };
}

async function idleCost(c: Cluster, seconds: number, captureDir: string, run: string): Promise<IdleResult> {
  const pids = c.agents.map((_, i) => c.pid(i));
  const cap = await Capture.start(
    join(captureDir, `${run}.pcap`),
    c.agents.map((a) => a.gossipPort),
    c.agents.flatMap((a) => (a.p2pPort === undefined ? [] : [a.p2pPort])),
  );
  const capStart = now();
  await Promise.all(pids.map(clearReferenced));
  const cpu0 = await Promise.all(pids.map(cpuSeconds));
  const t0 = now();
  await sleep(seconds * 1000);
  const cpu1 = await Promise.all(pids.map(cpuSeconds));
  const t1 = now();
  const totals = await cap.stop();
  const capSeconds = (now() - capStart) / 1000;
  const rss = await Promise.all(pids.map(rssParts));
  const rollups = await Promise.all(pids.map(rollupBytes));
  const mib = (b: number) => b / 1024 / 1024;
  const windowS = (t1 - t0) / 1000;
  const perAgent = (bytes: number) => bytes / c.n / capSeconds;
  return {
    cpuPercent: cpu1.map((x, i) => ((x - cpu0[i]!) / windowS) * 100),
    rssMiB: rss.map((r) => mib(r.rss)),
    anonMiB: rss.map((r) => mib(r.anon)),
    workingSetMiB: rollups.map((r) => mib(r.referenced)),
    pssMiB: rollups.map((r) => mib(r.pss)),
    bytesPerSecPerAgent: perAgent(totals.udpBytes + totals.tcpBytes),
    udpBytesPerSecPerAgent: perAgent(totals.udpBytes),
    tcpBytesPerSecPerAgent: perAgent(totals.tcpBytes),
    p2pBytesPerSecPerAgent: perAgent(totals.p2pBytes),
    allBytesPerSecPerAgent: perAgent(totals.udpBytes + totals.tcpBytes + totals.p2pBytes),
    capture: { ...totals, seconds: capSeconds },
  };
}

interface StopResult {
  victim: string;
  /** Survivors that ever reported the paused agent failed/dead. */
  falseDead: number;
  /** Vigil: survivors that saw it suspect / confirmed suspect. */
  suspectObservers: number;
  confirmedObservers: number;
  maxConfirmations: number;
  /** ms from SIGCONT until every survivor's first answer sent after SIGCONT shows it alive. */
  aliveAfterContMs: number | null;
  /** Survivors that showed it not alive again after having shown it alive after SIGCONT. */
  flaps: number;
}

async function pauseScenario(c: Cluster, victim: number, observers: number[], pollMs: number): Promise<StopResult> {
  const name = c.names[victim]!;
  const dead = new Set<number>();
  const suspect = new Set<number>();
  const confirmed = new Set<number>();
  let maxConfirmations = 0;
  const aliveAfter = new Map<number, number>();
  let flaps = 0;
  let contAt = Number.POSITIVE_INFINITY;
  c.signal(victim, 'SIGSTOP');
  const stopAt = now();
  const resumer = (async () => {
    await sleep(3000 - (now() - stopAt));
    c.signal(victim, 'SIGCONT');
    contAt = now();
  })();
  await watch(c, {
    observers,
    pollMs,
    timeoutMs: 3000 + 20_000,
    onView(i, view, sentAt, at) {
      const m = view.get(name);
      if (!m) return;
      if (m.status === 'dead') dead.add(i);
      if (m.status === 'suspect') suspect.add(i);
      if (m.confirmedSuspect) confirmed.add(i);
      maxConfirmations = Math.max(maxConfirmations, m.confirmations ?? 0);
      if (sentAt < contAt) return;
      if (m.status === 'alive') {
        if (!aliveAfter.has(i)) aliveAfter.set(i, at);
      } else if (aliveAfter.has(i)) {
        flaps++;
        aliveAfter.delete(i);
      }
    },
    // Keep watching 2 s past SIGCONT even when nobody noticed, to catch a late verdict.
    done: () => now() > contAt + 2000 && aliveAfter.size === observers.length,
  });
  await resumer;
  return {
    victim: name,
    falseDead: dead.size,
    suspectObservers: suspect.size,
    confirmedObservers: confirmed.size,
    maxConfirmations,
    aliveAfterContMs: aliveAfter.size === observers.length ? Math.max(...aliveAfter.values()) - contAt : null,
    flaps,
  };
}

interface KillResult {
  victim: string;
  firstDeadMs: number | null;
  allDeadMs: number | null;
  /** Vigil: every survivor shows it confirmed suspect or dead. */
  allConfirmedMs: number | null;
  firstSuspectMs: number | null;
  /**
   * Vigil: per-survivor times (ms after the SIGKILL; p50 / p90 / max) when the bench saw it confirmed,
   * and, from each survivor's verdict log (GET /v1/members/:name), when it took in the accusation
   * and the first confirmation, how it learnt of it, and how many of its own probes' TCP fallback
   * connects were refused.
   */
  timeline?: KillTimeline;
}

interface KillTimeline {
  seenConfirmedMs: Spread;
  suspectedMs: Spread;
  firstConfirmationMs: Spread;
  /** Survivors whose first accusation was their own probe / gossip / push-pull merge. */
  causes: Record<string, number>;
  /** Accusers or confirmers whose own probe's TCP fallback was refused (distinct). */
  refusers: number;
  /** Survivors that confirmed it through their own probe (a refusal) or a chosen prober's check. */
  ownConfirmers: number;
  /**
   * "event loop stalled" lines in the survivors' logs from 2 s before the SIGKILL to the end of the
   * scenario (from each agent's last 4 KiB of output, so a floor): count, agents, longest ms.
   */
  stalls: { count: number; agents: number; maxMs: number };
  /** From the survivors' probe trails (GET /v1/members/:name `trail`): how the crash was found. */
  stages: CrashStages;
  /**
   * What each survivor's TCP had found at the victim's gossip port (`tcpPort`, read after the
   * crash; a dead port's refusals teach nothing, so it is as it was at the SIGKILL): a refusal from
   * a `reached` port counts at once, from an `unknown` one only at the probe timeout.
   */
  victimPort: Record<string, number>;
}

/**
 * ms after the SIGKILL when the first survivor took each step towards the accusation, and how
 * many steps of each kind the survivors took (their trails, probe-trail.ts).
 */
interface CrashStages {
  firstMs: Record<string, number>;
  counts: Record<string, number>;
  /** The catalog hints' times (every survivor whose catalog connection to the victim dropped). */
  hintMs: Spread;
  /** When each survivor first sent a packet carrying a suspicion of the victim. */
  sentSuspectMs: Spread;
  /**
   * From a survivor's first refused TCP connect to the victim to its probe's failure: ~0 when the
   * refusal counted at once (a port known to take our TCP), the probe timeout's rest when it waited
   * for UDP (a port not known either way, rule 5).
   */
  refusedToFailedMs: Spread;
}

interface TraceEntry {
  step: string;
  at: number;
  result?: string;
  why?: string;
  voter?: boolean;
  accused?: boolean;
  own?: boolean;
  packets?: number;
}

/** The kind a step is counted and timed under: `hint:busy`, `probe:turn`, `tcp:refused`, `failed:held`. */
function stageKey(e: TraceEntry): string {
  if (e.step === 'hint' || e.step === 'tcp') return `${e.step}:${e.result}`;
  if (e.step === 'probe') return `probe:${e.why}`;
  if (e.step === 'failed') return `failed:${e.accused ? 'accused' : 'held'}${e.voter ? '' : ':unfit'}`;
  if (e.step === 'sent-suspect') return `sent-suspect:${e.own ? 'own' : 'relayed'}`;
  return e.step;
}

function crashStages(trails: readonly (readonly TraceEntry[])[], wallT0: number): CrashStages {
  const firstMs: Record<string, number> = {};
  const counts: Record<string, number> = {};
  const hints: number[] = [];
  const sent: number[] = [];
  const refusedToFailed: number[] = [];
  for (const trail of trails) {
    let firstSent: number | undefined;
    let refusedAt: number | undefined;
    let refusalTimed = false;
    for (const e of trail) {
      if (e.at < wallT0) continue;
      if (e.step === 'tcp' && e.result === 'refused') refusedAt ??= e.at;
      if (e.step === 'failed' && refusedAt !== undefined && !refusalTimed) {
        refusedToFailed.push(e.at - refusedAt);
        refusalTimed = true;
      }
      const key = stageKey(e);
      const ms = e.at - wallT0;
      counts[key] = (counts[key] ?? 0) + (e.step === 'sent-suspect' ? (e.packets ?? 1) : 1);
      firstMs[key] = Math.min(firstMs[key] ?? Number.POSITIVE_INFINITY, Math.round(ms));
      if (e.step === 'hint') hints.push(ms);
      if (e.step === 'sent-suspect') firstSent ??= ms;
    }
    if (firstSent !== undefined) sent.push(firstSent);
  }
  return {
    firstMs,
    counts,
    hintMs: spread(hints),
    sentSuspectMs: spread(sent),
    refusedToFailedMs: spread(refusedToFailed),
  };
}

function stagesText(s: CrashStages): string {
  const sp = (x: Spread) => `${x.p50 ?? '—'}/${x.p90 ?? '—'}/${x.max ?? '—'}`;
  const keys = Object.keys(s.firstMs).sort((a, b) => s.firstMs[a]! - s.firstMs[b]!);
  return (
    `first (ms after SIGKILL) / count: ${keys.map((k) => `${k} ${s.firstMs[k]}/${s.counts[k]}`).join(', ')}; ` +
    `hints at ${sp(s.hintMs)}; survivors' first suspicion sent at ${sp(s.sentSuspectMs)}; ` +
    `first refusal to its probe's failure ${sp(s.refusedToFailedMs)}`
  );
}

interface Spread {
  p50: number | null;
  p90: number | null;
  max: number | null;
}

function spread(values: readonly number[]): Spread {
  const xs = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    xs.length === 0 ? null : Math.round(xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!);
  return { p50: at(0.5), p90: at(0.9), max: xs.length === 0 ? null : Math.round(xs.at(-1)!) };
}

interface VerdictPath {
  path: string;
  by: string;
  refused?: boolean;
}
interface VerdictEntry {
  suspectedAt: number;
  accuser: string;
  cause: string;
  paths?: VerdictPath[];
  confirmations: { by: string; at: number; paths?: VerdictPath[] }[];
}

function timelineText(t: KillTimeline): string {
  const sp = (x: Spread) => `${x.p50 ?? '—'}/${x.p90 ?? '—'}/${x.max ?? '—'}`;
  return (
    `seen confirmed ${sp(t.seenConfirmedMs)}, accusation taken in ${sp(t.suspectedMs)}, ` +
    `first confirmation ${sp(t.firstConfirmationMs)}; learnt by ${JSON.stringify(t.causes)}; ` +
    `refused-connect voters ${t.refusers}, survivors confirming themselves ${t.ownConfirmers}; ` +
    `stalls from 2 s before: ${t.stalls.count} on ${t.stalls.agents} agents, longest ${Math.round(t.stalls.maxMs)} ms; ` +
    `victim's port as the survivors knew it ${JSON.stringify(t.victimPort)}`
  );
}

/** Reads each survivor's verdict log for the victim (wall-clock ms; `wallT0` is the SIGKILL's). */
/** --dump-trails: where killTimeline appends what it read. */
let dumpTrailsTo: string | undefined;

async function killTimeline(
  c: VigilCluster,
  name: string,
  observers: number[],
  wallT0: number,
  seenConfirmed: number[],
): Promise<KillTimeline> {
  const suspected: number[] = [];
  const firstConfirmation: number[] = [];
  const causes: Record<string, number> = {};
  const refusers = new Set<string>();
  const trails: TraceEntry[][] = [];
  const victimPort: Record<string, number> = {};
  let ownConfirmers = 0;
  await Promise.all(
    observers.map(async (i) => {
      const body = await c.api<{ history: VerdictEntry[]; trail?: TraceEntry[]; tcpPort?: string }>(
        i,
        `/v1/members/${encodeURIComponent(name)}`,
      );
      trails.push(body?.trail ?? []);
      const port = body?.tcpPort ?? 'none';
      victimPort[port] = (victimPort[port] ?? 0) + 1;
      if (dumpTrailsTo !== undefined)
        await appendFile(dumpTrailsTo, `${JSON.stringify({ observer: c.names[i], victim: name, wallT0, ...body })}\n`);
      // History is newest first: a suspect message arriving after the dead verdict opens a newer
      // entry, so the crash's own suspicion is the oldest one since the SIGKILL.
      const v = body?.history.findLast((h) => h.suspectedAt >= wallT0 - 1000);
      if (!v) return;
      suspected.push(v.suspectedAt - wallT0);
      const first = v.confirmations[0];
      if (first) firstConfirmation.push(first.at - wallT0);
      causes[v.cause] = (causes[v.cause] ?? 0) + 1;
      if (v.confirmations.some((x) => x.by === c.names[i])) ownConfirmers++;
      for (const p of [...(v.paths ?? []), ...v.confirmations.flatMap((x) => x.paths ?? [])])
        if (p.path === 'tcp' && p.refused) refusers.add(p.by);
    }),
  );
  const stalls = { count: 0, agents: 0, maxMs: 0 };
  for (const i of observers) {
    let mine = 0;
    for (const line of c.logTail(i).split('\n')) {
      if (!line.includes('event loop stalled')) continue;
      try {
        const rec = JSON.parse(line) as { time?: number; stallMs?: number };
        if ((rec.time ?? 0) < wallT0 - 2000) continue;
        mine++;
        stalls.maxMs = Math.max(stalls.maxMs, rec.stallMs ?? 0);
      } catch {
        // a line cut by the tail's start
      }
    }
    stalls.count += mine;
    if (mine > 0) stalls.agents++;
  }
  return {
    stalls,
    stages: crashStages(trails, wallT0),
    seenConfirmedMs: spread(seenConfirmed),
    suspectedMs: spread(suspected),
    firstConfirmationMs: spread(firstConfirmation),
    causes,
    refusers: refusers.size,
    ownConfirmers,
    victimPort,
  };
}

async function killScenario(
  c: Cluster,
  victim: number,
  observers: number[],
  pollMs: number,
  falseViews?: FalseViews,
): Promise<KillResult> {
  const name = c.names[victim]!;
  falseViews?.excluded.add(name);
  const deadAt = new Map<number, number>();
  const confirmedAt = new Map<number, number>();
  let firstSuspect: number | undefined;
  c.signal(victim, 'SIGKILL');
  const t0 = now();
  const wallT0 = Date.now();
  await watch(c, {
    observers,
    pollMs,
    timeoutMs: 60_000,
    onView(i, view, _sent, at) {
      falseViews?.note(i, view);
      const m = view.get(name);
      if (!m) return;
      if (m.status !== 'alive') firstSuspect ??= at;
      if (m.status === 'dead' && !deadAt.has(i)) deadAt.set(i, at);
      if ((m.status === 'dead' || m.confirmedSuspect) && !confirmedAt.has(i)) confirmedAt.set(i, at);
    },
    done: () => deadAt.size === observers.length,
  });
  const all = (m: Map<number, number>) => (m.size === observers.length ? Math.max(...m.values()) - t0 : null);
  return {
    victim: name,
    firstDeadMs: deadAt.size > 0 ? Math.min(...deadAt.values()) - t0 : null,
    allDeadMs: all(deadAt),
    allConfirmedMs: c.impl !== 'serf' ? all(confirmedAt) : null,
    firstSuspectMs: firstSuspect === undefined ? null : firstSuspect - t0,
    ...(c instanceof VigilCluster
      ? {
          timeline: await killTimeline(
            c,
            name,
            observers,
            wallT0,
            [...confirmedAt.values()].map((x) => x - t0),
          ),
        }
      : {}),
  };
}

/**
 * Views of healthy agents (neither killed nor restarted) that a watcher saw turn suspect,
 * confirmed suspect or failed/dead: each is a false verdict (routing drains on confirmed). Serf
 * shows no suspect state, so only its failed views count.
 */
class FalseViews {
  suspect = 0;
  confirmed = 0;
  dead = 0;
  readonly excluded = new Set<string>();
  private readonly last = new Map<string, SeenMember>();

  note(observer: number, view: View): void {
    for (const [name, m] of view) {
      if (this.excluded.has(name)) continue;
      const key = `${observer}\0${name}`;
      const prev = this.last.get(key);
      if (m.status === 'suspect' && prev?.status !== 'suspect') this.suspect++;
      if (m.confirmedSuspect && !prev?.confirmedSuspect) this.confirmed++;
      if (m.status === 'dead' && prev?.status !== 'dead') this.dead++;
      this.last.set(key, m);
    }
  }

  result() {
    return { suspect: this.suspect, confirmed: this.confirmed, dead: this.dead };
  }
}

interface RestartResult {
  victim: string;
  /** Observers that showed it not alive just before the restart (the crash had been noticed). */
  noticedBefore: number;
  /** ms from spawning the new process until every observer shows it alive (and not confirmed suspect). */
  allBackMs: number | null;
  /** ms from spawning it until its own API answered: process start, not membership. */
  apiMs: number | null;
  /** Once an observer had it back: later turns to suspect (or failed/dead), and to confirmed suspect. */
  suspectAfterBack: number;
  confirmedAfterBack: number;
}

async function restartScenario(
  c: Cluster,
  victim: number,
  observers: number[],
  pollMs: number,
  falseViews: FalseViews,
): Promise<RestartResult> {
  const name = c.names[victim]!;
  falseViews.excluded.add(name);
  c.signal(victim, 'SIGKILL');
  const noticed = new Set<number>();
  await watch(c, {
    observers,
    pollMs,
    timeoutMs: 3000,
    onView(i, view) {
      falseViews.note(i, view);
      const st = view.get(name)?.status;
      if (st === 'alive') noticed.delete(i);
      else noticed.add(i);
    },
    done: () => false,
  });
  c.restart(victim);
  const restartAt = now();
  const api = c.ready(victim).then(
    () => now() - restartAt,
    () => null,
  );
  const back = new Map<number, number>();
  const lastSeen = new Map<number, SeenMember>();
  let suspectAfterBack = 0;
  let confirmedAfterBack = 0;
  let allBackAt: number | undefined;
  await watch(c, {
    observers,
    pollMs,
    timeoutMs: 60_000,
    onView(i, view, _sent, at) {
      falseViews.note(i, view);
      const m = view.get(name);
      if (!m) return;
      const prev = lastSeen.get(i);
      lastSeen.set(i, m);
      if (back.has(i)) {
        if (m.status !== 'alive' && prev?.status === 'alive') suspectAfterBack++;
        if (m.confirmedSuspect && !prev?.confirmedSuspect) confirmedAfterBack++;
      } else if (m.status === 'alive' && !m.confirmedSuspect) {
        back.set(i, at);
        if (back.size === observers.length) allBackAt = at;
      }
    },
    // Watch 5 s past the moment all had it back, to catch a late re-suspicion.
    done: () => allBackAt !== undefined && now() > allBackAt + 5000,
  });
  return {
    victim: name,
    noticedBefore: noticed.size,
    allBackMs: allBackAt === undefined ? null : allBackAt - restartAt,
    apiMs: await api,
    suspectAfterBack,
    confirmedAfterBack,
  };
}

interface LeaveResult {
  victim: string;
  allLeftMs: number | null;
  /** Survivors that ever showed the leaving agent failed/dead. */
  deadObservers: number;
  /** Longest time one survivor showed it failed/dead. */
  longestDeadMs: number;
  exitedMs: number | null;
}

async function leaveScenario(c: Cluster, victim: number, observers: number[], pollMs: number): Promise<LeaveResult> {
  const name = c.names[victim]!;
  const leftAt = new Map<number, number>();
  const deadSince = new Map<number, number>();
  const deadObservers = new Set<number>();
  let longestDead = 0;
  const child = c.agents[victim]!.child;
  const exited = new Promise<number>((r) => child.once('exit', () => r(now())));
  const t0 = now();
  const leaving = c.leave(victim).catch(() => undefined);
  let allLeftAt: number | undefined;
  await watch(c, {
    observers,
    pollMs,
    timeoutMs: 60_000,
    onView(i, view, _sent, at) {
      const m = view.get(name);
      if (!m) return;
      if (m.status === 'dead') {
        deadObservers.add(i);
        if (!deadSince.has(i)) deadSince.set(i, at);
      } else if (deadSince.has(i)) {
        longestDead = Math.max(longestDead, at - deadSince.get(i)!);
        deadSince.delete(i);
      }
      if (m.status === 'left') leftAt.set(i, leftAt.get(i) ?? at);
      else leftAt.delete(i);
      if (allLeftAt === undefined && leftAt.size === observers.length) allLeftAt = at;
    },
    // Watch 3 s more once all show left, to catch a later flip to failed.
    done: () => allLeftAt !== undefined && now() > allLeftAt + 3000 && leftAt.size === observers.length,
  });
  for (const since of deadSince.values()) longestDead = Math.max(longestDead, now() - since);
  await leaving;
  const exitAt = await Promise.race([exited, sleep(15_000).then(() => undefined)]);
  if (exitAt === undefined) c.signal(victim, 'SIGKILL');
  return {
    victim: name,
    allLeftMs: allLeftAt === undefined ? null : allLeftAt - t0,
    deadObservers: deadObservers.size,
    longestDeadMs: longestDead,
    exitedMs: exitAt === undefined ? null : exitAt - t0,
  };
}

// ---- one cluster start ---------------------------------------------------------------------------

interface RunResult {
  impl: Impl;
  n: number;
  run: number;
  loadAvgAtStart: number[];
  startSeconds: number;
  join: JoinResult;
  idle?: IdleResult;
  pauses: StopResult[];
  kills: KillResult[];
  leaves: LeaveResult[];
  /** --stress-only: a kill 5 s after the join, then a restart, and the false views meanwhile. */
  stress?: {
    kill: KillResult;
    restart: RestartResult;
    falseViews: { suspect: number; confirmed: number; dead: number };
  };
  /** Agents that exited on their own (a crash), with the end of their output. */
  crashes: Crash[];
  error?: string;
}

let current: Cluster | undefined;

async function oneRun(
  impl: Impl,
  n: number,
  run: number,
  o: Options,
  captureDir: string,
  mode: 'full' | 'join' | 'idle' | 'stress' = 'full',
): Promise<RunResult> {
  // The machine is shared: wait a bounded while for other work to calm down, and record the load.
  const waitUntil = now() + 60_000;
  while (loadavg()[0]! > o.maxLoad && now() < waitUntil) await sleep(5000);
  const c: Cluster =
    impl === 'serf'
      ? new SerfCluster(n)
      : impl === 'baseline'
        ? new VigilCluster(n, baseline!.bin, 'baseline')
        : new VigilCluster(n, o.vigilBin);
  current = c;
  const r: RunResult = {
    impl,
    n,
    run,
    loadAvgAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
    startSeconds: 0,
    join: { ms: null, joinErrors: [] },
    pauses: [],
    kills: [],
    leaves: [],
    crashes: c.crashes,
  };
  const t = now();
  const checkCrashes = () => {
    if (c.crashes.length > 0)
      throw new Error(
        `agent ${c.crashes.map((x) => `${x.name} exited by itself (code ${x.code}, signal ${x.signal})`).join(', ')}:\n${c.crashes[0]!.output}`,
      );
  };
  try {
    await c.start({ encrypt: o.encrypt ? ENCRYPT_KEY : undefined });
    r.startSeconds = (now() - t) / 1000;
    // Let the freshly started processes finish warming up before the clock starts.
    await sleep(1000);
    r.join = await joinConvergence(c, o.pollMs, 120_000);
    checkCrashes();
    if (r.join.ms === null)
      throw new Error(
        `join did not converge in 120 s: ${r.join.missing}${r.join.joinErrors.length ? `; join errors: ${r.join.joinErrors.join('; ')}` : ''}`,
      );
    if (mode === 'join') return r;
    if (mode === 'stress') {
      const falseViews = new FalseViews();
      const everyoneBut = (...skip: number[]) => c.agents.map((_, i) => i).filter((i) => !skip.includes(i));
      await sleep(5000);
      const kill = await killScenario(c, n - 1, everyoneBut(n - 1), o.pollMs, falseViews);
      checkCrashes();
      await sleep(2000);
      const restart = await restartScenario(c, n - 2, everyoneBut(n - 1, n - 2), o.pollMs, falseViews);
      checkCrashes();
      r.stress = { kill, restart, falseViews: falseViews.result() };
      return r;
    }
    if (mode === 'idle') {
      await sleep(o.idleWarmupS * 1000);
      r.idle = await idleCost(c, pushPullPeriodS(n), captureDir, `${impl}-${n}-${run}`);
      checkCrashes();
      return r;
    }
    await sleep(5000);
    r.idle = await idleCost(c, o.idleSeconds, captureDir, `${impl}-${n}-${run}`);
    checkCrashes();

    const live = new Set(c.agents.map((_, i) => i));
    const others = (victim: number) => [...live].filter((i) => i !== victim);
    // Victims from the end; agent 0 (the seed) is never one. At least 3 agents stay.
    let next = n - 1;
    const pauseVictim = next--;
    r.pauses.push(await pauseScenario(c, pauseVictim, others(pauseVictim), o.pollMs));
    checkCrashes();
    await sleep(2000);
    const kills = Math.min(o.kills, Math.max(1, Math.floor((n - 3) / 2)));
    for (let k = 0; k < kills; k++) {
      const v = next--;
      r.kills.push(await killScenario(c, v, others(v), o.pollMs));
      checkCrashes();
      live.delete(v);
      await sleep(1000);
    }
    const leaves = Math.min(o.leaves, n - 3 - kills);
    for (let k = 0; k < leaves; k++) {
      const v = next--;
      r.leaves.push(await leaveScenario(c, v, others(v), o.pollMs));
      checkCrashes();
      live.delete(v);
      await sleep(1000);
    }
  } catch (err) {
    r.error = (err as Error).message;
  } finally {
    await c.dispose();
    current = undefined;
  }
  return r;
}

// ---- report ------------------------------------------------------------------------------------

const ENCRYPT_KEY = randomBytes(32).toString('base64');

interface Row {
  metric: string;
  serf: string;
  vigil: string;
  ratio: string;
  /** With --baseline: the baseline checkout's agent, and Vigil / baseline. */
  baseline?: string;
  vsBaseline?: string;
  raw: { serf: unknown; vigil: unknown; ratio: number | null; baseline?: unknown; vsBaseline?: number | null };
}

const s1 = (ms: number | undefined | null) => (ms === undefined || ms === null ? '—' : `${(ms / 1000).toFixed(2)} s`);
const ratioOf = (v: number | undefined | null, s: number | undefined | null) =>
  v === undefined || v === null || s === undefined || s === null || s === 0 ? null : v / s;
const fmtRatio = (x: number | null) => (x === null ? '—' : x.toFixed(2));

function summarize(n: number, runs: RunResult[]): Row[] {
  const by = (impl: Impl) => runs.filter((r) => r.impl === impl);
  const withBaseline = runs.some((r) => r.impl === 'baseline');
  const rows: Row[] = [];
  const add = (metric: string, f: (rs: RunResult[]) => { text: string; value: number | null; raw?: unknown }) => {
    const s = f(by('serf'));
    const v = f(by('vigil'));
    const ratio = ratioOf(v.value, s.value);
    const row: Row = {
      metric,
      serf: s.text,
      vigil: v.text,
      ratio: fmtRatio(ratio),
      raw: { serf: s.raw ?? s.value, vigil: v.raw ?? v.value, ratio },
    };
    if (withBaseline) {
      const b = f(by('baseline'));
      const vsBaseline = ratioOf(v.value, b.value);
      row.baseline = b.text;
      row.vsBaseline = fmtRatio(vsBaseline);
      row.raw.baseline = b.raw ?? b.value;
      row.raw.vsBaseline = vsBaseline;
    }
    rows.push(row);
  };
  const nums = (xs: (number | null | undefined)[]) => xs.filter((x): x is number => typeof x === 'number');
  const timing = (xs: number[]) => ({
    text: xs.length ? `${s1(median(xs))} (p90 ${s1(p90(xs))}, n=${xs.length})` : '—',
    value: median(xs) ?? null,
    raw: xs,
  });

  const joins = (rs: RunResult[]) => rs.map((r) => r.join.ms);
  add('join: all see all N alive, median', (rs) => timing(nums(joins(rs))));
  add('join: worst start', (rs) => {
    const xs = joins(rs);
    const worst = xs.some((x) => x === null) ? null : Math.max(...nums(xs));
    return { text: xs.length ? (worst === null ? '> 120 s (timeout)' : s1(worst)) : '—', value: worst };
  });
  add('join: starts over 2 s', (rs) => {
    const xs = joins(rs);
    const over = xs.filter((x) => x === null || x > 2000).length;
    return { text: `${over}/${xs.length}`, value: null, raw: { over, of: xs.length } };
  });
  add('join: CPU cores kept busy by the agents until convergence', (rs) => {
    const xs = nums(rs.map((r) => r.join.cpuCoresBusy));
    return {
      text: xs.length ? `${median(xs)!.toFixed(2)} (max ${Math.max(...xs).toFixed(2)})` : '—',
      value: median(xs) ?? null,
      raw: xs,
    };
  });
  const kills = (rs: RunResult[]) => rs.flatMap((r) => r.kills);
  add('SIGKILL → first survivor sees failed/dead', (rs) => timing(nums(kills(rs).map((k) => k.firstDeadMs))));
  add('SIGKILL → every survivor sees failed/dead', (rs) => timing(nums(kills(rs).map((k) => k.allDeadMs))));
  add('SIGKILL → detection timeouts (60 s)', (rs) => {
    const ks = kills(rs);
    const t = ks.filter((k) => k.allDeadMs === null).length;
    return { text: `${t}/${ks.length}`, value: null, raw: { timeouts: t, of: ks.length } };
  });
  /** Vigil's confirmed-suspect time, against Serf's all-failed time (Serf has no such state). */
  const addConfirmed = (metric: string, pick: (rs: RunResult[]) => KillResult[]) => {
    const s = nums(pick(by('serf')).map((k) => k.allDeadMs));
    const v = nums(pick(by('vigil')).map((k) => k.allConfirmedMs));
    const ratio = ratioOf(median(v), median(s));
    rows.push(
      withBaselineOf(
        { metric, serf: 'n/a', vigil: timing(v).text, ratio: fmtRatio(ratio), raw: { serf: null, vigil: v, ratio } },
        nums(pick(by('baseline')).map((k) => k.allConfirmedMs)),
      ),
    );
  };
  /** A Vigil-only row (Serf has no such state) gets the baseline's figures beside Vigil's. */
  const withBaselineOf = (row: Row, b: number[]): Row => {
    if (!withBaseline) return row;
    const vsBaseline = ratioOf(median(row.raw.vigil as number[]), median(b));
    return {
      ...row,
      baseline: timing(b).text,
      vsBaseline: fmtRatio(vsBaseline),
      raw: { ...row.raw, baseline: b, vsBaseline },
    };
  };
  addConfirmed('SIGKILL → every survivor sees confirmed suspect (Vigil; ratio vs Serf all-failed)', kills);
  const pauses = (rs: RunResult[]) => rs.flatMap((r) => r.pauses);
  add('SIGSTOP 3 s: false failed/dead verdicts (survivor-verdicts / pauses)', (rs) => {
    const ps = pauses(rs);
    const fp = ps.reduce((a, p) => a + p.falseDead, 0);
    return { text: `${fp} / ${ps.length}`, value: null, raw: { falseVerdicts: fp, pauses: ps.length } };
  });
  add('SIGSTOP 3 s: pauses with a suspect / confirmed-suspect view', (rs) => {
    const ps = pauses(rs);
    if (rs[0]?.impl === 'serf') return { text: 'n/a (not exposed)', value: null };
    const sus = ps.filter((p) => p.suspectObservers > 0).length;
    const conf = ps.filter((p) => p.confirmedObservers > 0).length;
    return { text: `${sus} / ${conf} of ${ps.length}`, value: null, raw: { suspect: sus, confirmed: conf } };
  });
  {
    const v = nums(pauses(by('vigil')).map((p) => p.aliveAfterContMs));
    rows.push(
      withBaselineOf(
        {
          metric: 'SIGSTOP 3 s: every survivor shows it alive (not suspect) after SIGCONT',
          serf: 'n/a (no suspect state shown)',
          vigil: timing(v).text,
          ratio: '—',
          raw: { serf: null, vigil: v, ratio: null },
        },
        nums(pauses(by('baseline')).map((p) => p.aliveAfterContMs)),
      ),
    );
  }
  const leaves = (rs: RunResult[]) => rs.flatMap((r) => r.leaves);
  add('graceful leave → every other agent shows left', (rs) => timing(nums(leaves(rs).map((l) => l.allLeftMs))));
  add('graceful leaves shown failed/dead anywhere (longest)', (rs) => {
    const ls = leaves(rs);
    const bad = ls.filter((l) => l.deadObservers > 0 || l.allLeftMs === null);
    const longest = Math.max(0, ...ls.map((l) => l.longestDeadMs));
    return {
      text: `${bad.length}/${ls.length}${bad.length ? ` (${s1(longest)})` : ''}`,
      value: null,
      raw: { bad: bad.length, of: ls.length, longestMs: longest },
    };
  });
  add('agents that crashed (exited unasked) / cluster starts', (rs) => {
    const crashes = rs.reduce((a, r) => a + r.crashes.length, 0);
    return { text: `${crashes} / ${rs.length}`, value: null, raw: { crashes, starts: rs.length } };
  });
  add('cluster starts aborted (crash, or join not converged in 120 s)', (rs) => {
    const bad = rs.filter((r) => r.error).length;
    return { text: `${bad} / ${rs.length}`, value: null, raw: { aborted: bad, starts: rs.length } };
  });
  const stress = (rs: RunResult[]) => rs.flatMap((r) => (r.stress ? [r.stress] : []));
  add('crash 5 s after the join → every survivor sees failed/dead', (rs) =>
    timing(nums(stress(rs).map((x) => x.kill.allDeadMs))),
  );
  addConfirmed(
    'crash 5 s after the join → every survivor sees confirmed suspect (Vigil; ratio vs Serf all-failed)',
    (rs) => stress(rs).map((x) => x.kill),
  );
  add('restart 3 s after SIGKILL → every observer shows it alive', (rs) =>
    timing(nums(stress(rs).map((x) => x.restart.allBackMs))),
  );
  add('restart: its own API answered (process start)', (rs) => timing(nums(stress(rs).map((x) => x.restart.apiMs))));
  add('restart: observers that had noticed the crash', (rs) => {
    const xs = stress(rs).map((x) => x.restart.noticedBefore);
    return { text: xs.length ? xs.join(', ') : '—', value: null, raw: xs };
  });
  add('restart: suspect / confirmed views of it after an observer had it back', (rs) => {
    const xs = stress(rs).map((x) => x.restart);
    const sus = xs.reduce((a, x) => a + x.suspectAfterBack, 0);
    const conf = xs.reduce((a, x) => a + x.confirmedAfterBack, 0);
    return { text: `${sus} / ${conf} (${xs.length} restarts)`, value: null, raw: { suspect: sus, confirmed: conf } };
  });
  add('false views of healthy agents: suspect / confirmed / failed (target 0)', (rs) => {
    const xs = stress(rs).map((x) => x.falseViews);
    const total = (k: 'suspect' | 'confirmed' | 'dead') => xs.reduce((a, x) => a + x[k], 0);
    const text =
      rs[0]?.impl === 'serf'
        ? `n/a / n/a / ${total('dead')}`
        : `${total('suspect')} / ${total('confirmed')} / ${total('dead')}`;
    return { text, value: null, raw: xs };
  });
  const idle = (rs: RunResult[]) => rs.flatMap((r) => (r.idle ? [r.idle] : []));
  // One row per idle figure: its median over every agent of every run (p90 beside it).
  const idleRow = (metric: string, digits: number, pick: (i: IdleResult) => number | number[]) =>
    add(metric, (rs) => {
      const xs = idle(rs).flatMap(pick);
      return {
        text: xs.length ? `${median(xs)!.toFixed(digits)} (p90 ${p90(xs)!.toFixed(digits)})` : '—',
        value: median(xs) ?? null,
        raw: xs,
      };
    });
  idleRow('idle RSS per agent (MiB)', 1, (i) => i.rssMiB);
  idleRow('   of which anonymous (RssAnon: heap, stacks)', 1, (i) => i.anonMiB);
  idleRow('idle PSS per agent (MiB): shared pages split among their processes', 1, (i) => i.pssMiB);
  idleRow('idle working set per agent (MiB): pages touched in the idle window', 1, (i) => i.workingSetMiB);
  idleRow('idle CPU per agent (% of one core)', 2, (i) => i.cpuPercent);
  idleRow('idle bytes/s per agent, all planes (payload)', 0, (i) => i.allBytesPerSecPerAgent);
  idleRow('idle libp2p catalog bytes/s per agent (TCP payload; Serf has none)', 0, (i) => i.p2pBytesPerSecPerAgent);
  idleRow('idle membership bytes/s per agent (UDP+TCP payload)', 0, (i) => i.bytesPerSecPerAgent);
  idleRow('   of which UDP', 0, (i) => i.udpBytesPerSecPerAgent);
  idleRow('   of which TCP (push/pull)', 0, (i) => i.tcpBytesPerSecPerAgent);
  void n;
  return rows;
}

function printTable(n: number, runs: RunResult[], rows: Row[]): string {
  const serfRuns = runs.filter((r) => r.impl === 'serf');
  const vigilRuns = runs.filter((r) => r.impl === 'vigil');
  const baselineRuns = runs.filter((r) => r.impl === 'baseline');
  const withBaseline = baselineRuns.length > 0;
  const loads = runs.map((r) => r.loadAvgAtStart[0]!);
  const head =
    `N = ${n}: ${serfRuns.length} Serf${withBaseline ? `, ${baselineRuns.length} baseline (${baselineLabel})` : ''} and ` +
    `${vigilRuns.length} Vigil cluster starts, LAN profile, loopback; ` +
    `1-min load average at the starts ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}`;
  // Columns: metric, Serf, [baseline], Vigil, Vigil/Serf, [Vigil/baseline].
  const columns = (r: Pick<Row, 'metric' | 'serf' | 'vigil' | 'ratio' | 'baseline' | 'vsBaseline'>) =>
    withBaseline
      ? [r.metric, r.serf, r.baseline ?? '—', r.vigil, r.ratio, r.vsBaseline ?? '—']
      : [r.metric, r.serf, r.vigil, r.ratio];
  const header = columns({
    metric: 'metric',
    serf: 'Serf',
    baseline: 'baseline',
    vigil: 'Vigil',
    ratio: 'Vigil/Serf',
    vsBaseline: 'Vigil/baseline',
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => columns(r)[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [head, line(header), line(widths.map((w) => '-'.repeat(w)))];
  const shown = o.idleOnly
    ? rows.filter((r) => /^idle|^ {3}of|crash|aborted/.test(r.metric))
    : o.stressOnly
      ? rows.filter((r) => /^join: all|^crash|^restart|^false|crashed|aborted/.test(r.metric))
      : rows.filter((r) => !/^crash 5 s|^restart|^false views/.test(r.metric));
  for (const r of shown) out.push(line(columns(r)));
  out.push(
    o.stressOnly
      ? 'crash: SIGKILL 5 s after the join converged; restart: another agent SIGKILLed, started again 3 s later; views watched throughout'
      : o.idleOnly
        ? `idle window: ${pushPullPeriodS(n)} s (one push/pull period), opening ${o.idleWarmupS} s after the join; no polling in it`
        : `idle window: ${o.idleSeconds} s, opening 5 s after the join, no polling in it; it closes before the first ` +
          'periodic push/pull (about 30 s after start), so its bytes are UDP gossip only: see --idle-only',
  );
  for (const r of runs.filter((x) => x.error)) out.push(`! ${r.impl} run ${r.run + 1}: ${r.error!.split('\n')[0]}`);
  return out.join('\n');
}

// ---- main --------------------------------------------------------------------------------------

const o = parseArgs(process.argv.slice(2));
dumpTrailsTo = o.dumpTrails;
if (o.baseline !== undefined && o.baselineBin !== undefined) {
  console.error('--baseline and --baseline-bin: give one of them');
  process.exit(2);
}
if (o.baseline !== undefined) {
  if (!existsSync(vigilBinOf(o.baseline)) || !existsSync(join(o.baseline, 'node_modules'))) {
    console.error(`--baseline ${o.baseline}: not a checkout of this repository with node_modules installed`);
    process.exit(2);
  }
}
if (o.baselineBin !== undefined && !existsSync(o.baselineBin)) {
  console.error(`--baseline-bin ${o.baselineBin}: no such file`);
  process.exit(2);
}
const commitOf = (dir: string) => {
  try {
    return execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return 'unknown';
  }
};
/** The baseline column's agent: a checkout's (--baseline) or a bin's (--baseline-bin). */
const baseline =
  o.baselineBin !== undefined
    ? { bin: o.baselineBin, label: o.baselineBin, json: { bin: o.baselineBin } }
    : o.baseline !== undefined
      ? {
          bin: vigilBinOf(o.baseline),
          label: `${o.baseline} at ${commitOf(o.baseline)}`,
          json: { dir: o.baseline, commit: commitOf(o.baseline) },
        }
      : undefined;
const baselineLabel = baseline?.label ?? '';
const impls: Impl[] = [
  ...(o.vigilOnly ? [] : (['serf'] as const)),
  'vigil',
  ...(baseline === undefined ? [] : (['baseline'] as const)),
];
/** Which kind starts first rotates from run to run, so none always gets the quietest machine. */
const startOrder = (run: number): Impl[] => impls.map((_, k) => impls[(k + run) % impls.length]!);
// tcpdump measures the idle window's bytes, which the stress scenarios do not have.
for (const tool of o.stressOnly ? ['serf'] : ['serf', 'tcpdump']) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    console.error(`${tool} is needed: apt-get install ${tool}`);
    process.exit(2);
  }
}
const captureDir = await mkdtemp(join(tmpdir(), 'bench-capture-'));
let cleaning: Promise<void> | undefined;
const cleanup = () => {
  cleaning ??= (async () => {
    await current?.dispose().catch(() => undefined);
    for (const child of liveChildren) if (child.pid !== undefined) child.kill('SIGKILL');
    await rm(captureDir, { recursive: true, force: true });
  })();
  return cleaning;
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`\n${sig}: cleaning up`);
    void cleanup().then(() => process.exit(130));
  });
}

const serfVersion = execFileSync('serf', ['version']).toString().split('\n')[0]!.trim();
const started = now();
const report: {
  meta: Record<string, unknown>;
  results: Record<string, { rows: Row[]; runs: RunResult[] }>;
} = {
  meta: {
    date: new Date().toISOString(),
    serf: serfVersion,
    node: process.version,
    cpus: (await import('node:os')).cpus().length,
    loadAvgAtStart: loadavg(),
    options: { ...o, encrypt: o.encrypt },
    commit: commitOf(join(import.meta.dirname, '..', '..')),
    ...(baseline === undefined ? {} : { baseline: baseline.json }),
    method: {
      polling: `each agent's view sampled every ${o.pollMs} ms (Serf: agent RPC "members" on one persistent TCP connection per agent; Vigil: the view kept from its /v1/events stream, read locally); times are taken at the first sample showing the state`,
      join: 'agents started without --join; all N-1 joins to agent 0 issued at once through their APIs; time until every agent lists all N alive',
      bytes:
        'tcpdump on lo filtered on the gossip ports and (Vigil) the libp2p ports; UDP+TCP payload (no IP/UDP/TCP headers) summed over the cluster per plane, divided by N and the window; "all planes" is membership + libp2p',
      cpu: 'utime+stime from /proc/PID/stat over the idle window, no polling during it',
      rss: 'VmRSS (and RssAnon, its anonymous part) from /proc/PID/status at the end of the idle window',
      workingSet:
        'smaps_rollup Referenced at the end of the idle window, after writing 1 to /proc/PID/clear_refs at its start: the pages each agent touched in the window',
      pss: 'smaps_rollup Pss at the end of the idle window: each shared page divided by the number of processes mapping it (all N agents of a system run one binary)',
    },
  },
  results: {},
};

let stoppedEarly = false;
try {
  for (const n of o.ns) {
    const runsN = o.runs ?? (o.idleOnly ? 1 : n <= 20 ? 5 : 3);
    const runs: RunResult[] = [];
    for (let run = 0; run < runsN; run++) {
      if (now() - started > o.maxMinutes * 60_000) {
        stoppedEarly = true;
        break;
      }
      for (const impl of startOrder(run)) {
        const r = await oneRun(impl, n, run, o, captureDir, o.idleOnly ? 'idle' : o.stressOnly ? 'stress' : 'full');
        runs.push(r);
        const k = r.kills[0] ?? r.stress?.kill;
        console.error(
          `[N=${n} run ${run + 1}/${runsN} ${impl}] start ${r.startSeconds.toFixed(1)} s, join ${s1(r.join.ms)}, ` +
            `kill all-dead ${s1(k?.allDeadMs)}${k?.allConfirmedMs != null ? ` (confirmed ${s1(k.allConfirmedMs)})` : ''}, ` +
            (r.stress
              ? `restart back ${s1(r.stress.restart.allBackMs)} (flaps ${r.stress.restart.suspectAfterBack}/${r.stress.restart.confirmedAfterBack}), false views ${JSON.stringify(r.stress.falseViews)}`
              : `pause false=${r.pauses[0]?.falseDead ?? '—'}, leaves bad=${r.leaves.filter((l) => l.deadObservers > 0).length}/${r.leaves.length}`) +
            `${r.error ? `, ERROR ${r.error.slice(0, 300)}` : ''}`,
        );
        if (k?.timeline) {
          console.error(`  crash timeline (ms after SIGKILL, p50/p90/max): ${timelineText(k.timeline)}`);
          console.error(`  crash stages (survivors' probe trails): ${stagesText(k.timeline.stages)}`);
        }
      }
    }
    for (let run = 0; run < o.joinStarts && !stoppedEarly; run++) {
      if (now() - started > o.maxMinutes * 60_000) stoppedEarly = true;
      for (const impl of stoppedEarly ? [] : startOrder(run)) {
        const r = await oneRun(impl, n, runsN + run, o, captureDir, 'join');
        runs.push(r);
        console.error(`[N=${n} join-only start ${run + 1}/${o.joinStarts} ${impl}] join ${s1(r.join.ms)}`);
      }
    }
    const rows = summarize(n, runs);
    report.results[String(n)] = { rows, runs };
    console.log(`\n${printTable(n, runs, rows)}\n`);
    if (stoppedEarly) break;
  }
} finally {
  await cleanup();
}
report.meta.loadAvgAtEnd = loadavg();
report.meta.minutes = (now() - started) / 60_000;
report.meta.stoppedEarlyAtMaxMinutes = stoppedEarly;
console.log(
  'How measured: ' +
    Object.entries(report.meta.method as Record<string, string>)
      .map(([k, v]) => `${k}: ${v}`)
      .join('\n  '),
);
if (o.out) {
  await writeFile(o.out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`wrote ${o.out}`);
}
process.exit(0);
