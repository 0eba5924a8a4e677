// The election core's soak: many seeded histories under the fault simulator, each checked for
// at most one leader per term, no two lease holders at one world instant, rising fencing tokens,
// state machine safety, linearizable KV histories, and a leader within the stated bound in every
// calm window. A failing seed prints the command that replays it.
//
//   npm run sim:election -w scripts                          # 10,000 seeds, 3 and 5 voters
//   npm run sim:election -w scripts -- --seeds 500 --workers 2
//   npm run sim:election -w scripts -- --seed 1234 --seeds 1 --verbose     # replay one seed
//   npm run sim:election -w scripts -- --mutation long-lease --seeds 200   # show the checker biting

import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import {
  DEFAULT_SIM_OPTIONS,
  type ElectionSimReport,
  replayCommand,
  runElectionSim,
  SIM_MUTATIONS,
  type SimMutation,
} from '@vigil/agent';

interface Job {
  first: number;
  count: number;
  stride: number;
  offset: number;
  voters: number | undefined;
  durationMs: number;
  mutation: SimMutation | undefined;
}

/** The report's counts that add up across seeds. */
const COUNTS = [
  'elections',
  'leaderChanges',
  'leases',
  'opsChecked',
  'crashes',
  'powerLosses',
  'confChanges',
  'messages',
  'calmWindows',
] as const satisfies readonly (keyof ElectionSimReport)[];

type Totals = Record<(typeof COUNTS)[number] | 'seeds' | 'unknownChecks' | 'maxTimeToLeaderMs', number> & {
  failed: ElectionSimReport[];
};

function emptyTotals(): Totals {
  const t = { seeds: 0, unknownChecks: 0, maxTimeToLeaderMs: 0, failed: [] } as Partial<Totals>;
  for (const k of COUNTS) t[k] = 0;
  return t as Totals;
}

/** Folds `b` (a report's totals, or another worker's) into `a`. */
function addTotals(a: Totals, b: Omit<Totals, 'failed'>): void {
  for (const k of [...COUNTS, 'seeds', 'unknownChecks'] as const) a[k] += b[k];
  a.maxTimeToLeaderMs = Math.max(a.maxTimeToLeaderMs, b.maxTimeToLeaderMs);
}

function runJob(job: Job, verbose: boolean): Totals {
  const t = emptyTotals();
  for (let i = job.offset; i < job.count; i += job.stride) {
    const seed = job.first + i;
    const voters = job.voters ?? (seed % 2 === 0 ? 5 : 3);
    const r = runElectionSim({
      seed,
      voters,
      durationMs: job.durationMs,
      ...(job.mutation ? { mutation: job.mutation } : {}),
    });
    addTotals(t, { ...r, seeds: 1, unknownChecks: r.linearizable === 'unknown' ? 1 : 0 });
    if (r.violations.length > 0) {
      t.failed.push(r);
      console.error(`  FAIL seed ${seed} (${voters} voters): ${r.violations[0]!.split('\n')[0]}`);
    }
    if (verbose) console.log(JSON.stringify(r, null, 2));
    if (t.seeds % 1000 === 0) console.error(`  [worker ${job.offset}] ${t.seeds} seeds, ${t.failed.length} failing`);
  }
  return t;
}

if (!isMainThread) {
  const { job } = workerData as { job: Job };
  parentPort!.postMessage(runJob(job, false));
} else {
  const { values: args } = parseArgs({
    options: {
      seeds: { type: 'string', default: '10000' },
      seed: { type: 'string', default: '1' },
      voters: { type: 'string' },
      duration: { type: 'string', default: String(DEFAULT_SIM_OPTIONS.durationMs) },
      mutation: { type: 'string' },
      workers: { type: 'string', default: '1' },
      verbose: { type: 'boolean', default: false },
    },
  });
  const seeds = Number(args.seeds);
  const first = Number(args.seed);
  const voters = args.voters === undefined ? undefined : Number(args.voters);
  const durationMs = Number(args.duration);
  const workers = Math.max(1, Math.min(Number(args.workers), availableParallelism()));
  const mutation = args.mutation as SimMutation | undefined;
  if (mutation !== undefined && !SIM_MUTATIONS.includes(mutation)) {
    throw new Error(`--mutation must be one of ${SIM_MUTATIONS.join(', ')}`);
  }
  if (!(seeds >= 1 && Number.isInteger(first) && durationMs >= 10_000)) {
    throw new Error('need --seeds >= 1, an integer --seed and --duration >= 10000');
  }
  if (voters !== undefined && !(voters >= 1 && voters <= 9)) throw new Error('--voters must be in 1..9');

  const started = performance.now();
  const base = { first, count: seeds, stride: workers, voters, durationMs, mutation };
  const parts: Totals[] =
    workers === 1
      ? [runJob({ ...base, offset: 0 }, args.verbose)]
      : await Promise.all(
          Array.from(
            { length: workers },
            (_, offset) =>
              new Promise<Totals>((resolve, reject) => {
                const w = new Worker(new URL(import.meta.url), { workerData: { job: { ...base, offset } } });
                w.once('message', resolve);
                w.once('error', reject);
              }),
          ),
        );
  const sum = emptyTotals();
  for (const part of parts) {
    addTotals(sum, part);
    sum.failed.push(...part.failed);
  }
  const wall = (performance.now() - started) / 1000;
  const n = (x: number) => x.toLocaleString('en-US');
  console.log(
    `election soak: ${n(sum.seeds)} seeds (${voters ?? '3 and 5'} voters, ${durationMs / 1000} s virtual each${mutation ? `, MUTATION ${mutation}` : ''}) in ${wall.toFixed(1)} s wall, ${workers} worker(s)`,
  );
  console.log(`  elections (term, leader)   ${n(sum.elections)}`);
  console.log(`  lease-holder changes       ${n(sum.leaderChanges)}  (lease intervals ${n(sum.leases)})`);
  console.log(
    `  KV ops checked             ${n(sum.opsChecked)}  (linearizability searches over budget: ${sum.unknownChecks})`,
  );
  console.log(`  crashes / power losses     ${n(sum.crashes)} / ${n(sum.powerLosses)}`);
  console.log(`  configuration changes      ${n(sum.confChanges)}`);
  console.log(`  messages                   ${n(sum.messages)}`);
  console.log(
    `  calm windows               ${n(sum.calmWindows)}  (worst time to a lease holder: ${sum.maxTimeToLeaderMs.toFixed(0)} ms, bound ${DEFAULT_SIM_OPTIONS.livenessBoundMs} ms)`,
  );
  console.log(`  violations                 ${n(sum.failed.length)} seed(s)`);
  for (const r of sum.failed.slice(0, 10)) {
    console.log(`\nseed ${r.seed} (${r.voters} voters):\n  ${r.violations.slice(0, 3).join('\n  ')}`);
    console.log(
      `  replay: ${replayCommand({ seed: r.seed, voters: r.voters, durationMs, ...(mutation ? { mutation } : {}) })}`,
    );
  }
  process.exitCode = sum.failed.length > 0 && !mutation ? 1 : 0;
}
