// A large simulated cluster: the real membership engine on a virtual clock (packages/agent's
// Simulator). It starts N nodes already converged, measures the idle message load, crashes a few
// nodes at once, and reports how long the survivors take to see each crash as confirmed suspect
// and as dead, and what the detection costs in messages.
//
//   npm run sim -w scripts                      # 10,000 nodes: 15 GiB of heap, ~4.5 min here
//   node --max-old-space-size=8000 sim/large-cluster.ts --nodes 6000   # ~5.5 GiB of heap (estimate)
//
// Every engine holds a full member table, so memory grows with N^2 (about 142 bytes per member
// per node: 14-15 GiB at N = 10,000). The script checks the heap limit before it starts. Virtual
// time is bounded by --idle and --max-detect, wall time by --wall-limit.

import { freemem, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import { PROFILES, type SimEvent, Simulator } from '@vigil/agent';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '10000' },
    crashes: { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
    loss: { type: 'string', default: '0' },
    mode: { type: 'string', default: 'vigil' },
    idle: { type: 'string', default: '10' },
    'max-detect': { type: 'string', default: '90' },
    'wall-limit': { type: 'string', default: '1800' },
  },
});

const N = Number(args.nodes);
const CRASHES = Number(args.crashes);
const SEED = Number(args.seed);
const LOSS = Number(args.loss);
const IDLE_S = Number(args.idle);
const MAX_DETECT_S = Number(args['max-detect']);
const WALL_LIMIT_S = Number(args['wall-limit']);
const MODES = {
  vigil: {},
  lifeguard: { collectiveConfirmation: false },
  swim: { lifeguard: false, collectiveConfirmation: false },
} as const;
const mode = args.mode as keyof typeof MODES;
if (!(mode in MODES)) throw new Error(`--mode must be one of ${Object.keys(MODES).join(', ')}`);
if (!(N >= 2 && CRASHES >= 1 && CRASHES < N)) throw new Error('need --nodes >= 2 and 1 <= --crashes < --nodes');

const BYTES_PER_ENTRY = 142; // measured at N = 1,500 (live heap after a full GC): member record, map entry, list slots
const needed = N * N * BYTES_PER_ENTRY * 1.1;
const heapLimit = getHeapStatistics().heap_size_limit;
const gb = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
if (needed > heapLimit) {
  const fits = Math.floor(Math.sqrt(heapLimit / (BYTES_PER_ENTRY * 1.1)));
  console.error(
    `N = ${N} needs about ${gb(needed)} of heap; the limit is ${gb(heapLimit)} (machine: ${gb(totalmem())}).\n` +
      `Raise it with node --max-old-space-size=MB, or use --nodes ${fits} or fewer.`,
  );
  process.exit(1);
}
if (needed > freemem()) {
  console.error(
    `N = ${N} needs about ${gb(needed)} of memory and only ${gb(freemem())} is available now; ` +
      'stop other work or use fewer --nodes.',
  );
  process.exit(1);
}

const wallStart = performance.now();
const wall = () => (performance.now() - wallStart) / 1000;
const checkWall = (phase: string) => {
  if (wall() > WALL_LIMIT_S) {
    console.error(`wall-clock limit of ${WALL_LIMIT_S} s reached during ${phase}; stopping`);
    process.exit(2);
  }
};
const log = (text: string) => console.log(`[${wall().toFixed(0).padStart(5)} s] ${text}`);

const names = Array.from({ length: N }, (_, i) => `node-${i}`);
const sim = new Simulator({ seed: SEED, lossRate: LOSS, engine: MODES[mode] });
log(`bootstrapping ${N} nodes (${mode}, seed ${SEED}, loss ${LOSS})`);
sim.bootstrap(names);
log(`bootstrapped; heap ${gb(process.memoryUsage().heapUsed)}`);

/** Runs the cluster for `seconds` of virtual time in 1 s steps, minding the wall-clock limit. */
function runFor(seconds: number, phase: string, until?: () => boolean): number {
  const start = sim.now;
  for (let s = 0; s < seconds && !until?.(); s++) {
    sim.run(1000);
    checkWall(phase);
  }
  return (sim.now - start) / 1000;
}

function load(seconds: number, before: { packets: number; messages: number }) {
  return {
    datagrams: (sim.packetsSent - before.packets) / N / seconds,
    messages: (sim.messagesSent - before.messages) / N / seconds,
  };
}

// The first seconds carry every node's start-up announcement; measure the idle load after them.
runFor(5, 'warm-up');
let mark = { packets: sim.packetsSent, messages: sim.messagesSent };
const idleSeconds = runFor(IDLE_S, 'idle');
const idle = load(idleSeconds, mark);
log(`idle: ${idle.datagrams.toFixed(2)} datagrams and ${idle.messages.toFixed(2)} messages per node per second`);

// Crash a few nodes at once, spread over the name space.
const victims = Array.from({ length: CRASHES }, (_, i) => names[Math.floor(((i + 0.5) * N) / CRASHES)]!);
const survivors = N - CRASHES;
const victimSet = new Set(victims);
const seen = new Map(
  victims.map((v) => [
    v,
    { suspect: [] as number[], confirmed: new Set<string>(), confirmedAt: [] as number[], dead: [] as number[] },
  ]),
);
const falseVerdicts: SimEvent[] = [];
sim.onEvent((e) => {
  const s = seen.get(e.member.name);
  if (!s) {
    if (e.type === 'dead') falseVerdicts.push(e);
    return;
  }
  if (victimSet.has(e.observer)) return;
  if (e.type === 'suspect') s.suspect.push(e.at);
  if (e.member.confirmedSuspect && !s.confirmed.has(e.observer)) {
    s.confirmed.add(e.observer);
    s.confirmedAt.push(e.at);
  }
  if (e.type === 'dead') s.dead.push(e.at);
});
const crashedAt = sim.now;
for (const v of victims) sim.crash(v);
mark = { packets: sim.packetsSent, messages: sim.messagesSent };
log(`crashed ${victims.join(', ')}`);
const allDead = () => [...seen.values()].every((s) => s.dead.length >= survivors);
const detectSeconds = runFor(MAX_DETECT_S, 'detection', allDead);
const detecting = load(detectSeconds, mark);
log(`detection phase: ${detectSeconds} virtual s`);

const secs = (ms: number | undefined) => (ms === undefined ? '-' : ((ms - crashedAt) / 1000).toFixed(2));
const first = (xs: number[]) => (xs.length > 0 ? Math.min(...xs) : undefined);
const last = (xs: number[], want: number) => (xs.length >= want ? Math.max(...xs) : undefined);
const rows = victims.map((v) => {
  const s = seen.get(v)!;
  return [
    v,
    secs(first(s.suspect)),
    secs(first(s.confirmedAt)),
    secs(last(s.confirmedAt, survivors)),
    secs(first(s.dead)),
    secs(last(s.dead, survivors)),
    `${s.dead.length}/${survivors}`,
  ];
});

function table(header: string[], body: (string | number)[][]): string {
  const cells = [header, ...body].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`;
  return [line(cells[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join(
    '\n',
  );
}

const minSuspicion = PROFILES.lan.suspicionMult * Math.max(1, Math.log10(N)) * PROFILES.lan.probeIntervalMs;
console.log(
  `\nN = ${N}, ${mode}, LAN profile, loss ${LOSS}: ${CRASHES} simultaneous crashes (seconds of virtual time after ` +
    `the crash; min suspicion at this N = ${(minSuspicion / 1000).toFixed(1)} s)`,
);
console.log(
  table(['crashed', 'first suspect', 'first confirmed', 'all confirmed', 'first dead', 'all dead', 'dead on'], rows),
);
console.log('\nLoad per node per second (sent)');
console.log(
  table(
    ['phase', 'virtual s', 'datagrams', 'messages'],
    [
      ['idle', idleSeconds, idle.datagrams.toFixed(2), idle.messages.toFixed(2)],
      ['detecting the crashes', detectSeconds, detecting.datagrams.toFixed(2), detecting.messages.toFixed(2)],
    ],
  ),
);
console.log(
  `\nDead verdicts about live members: ${falseVerdicts.length}. Wall time ${wall().toFixed(0)} s, ` +
    `heap ${gb(process.memoryUsage().heapUsed)}.`,
);
