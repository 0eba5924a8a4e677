import type { EngineConfig } from '../../src/membership/swim-engine.ts';
import { type SimEvent, Simulator, type SimulatorOptions } from '../../src/sim/simulator.ts';

/** The engine options that make each protocol the simulator compares. */
export const MODES = {
  /** The SWIM paper: fixed suspicion timeout, no local health, no buddy system, no nacks. */
  swim: { lifeguard: false, collectiveConfirmation: false },
  /** memberlist's Lifeguard, without our collective confirmation. */
  lifeguard: { collectiveConfirmation: false },
  /** The defaults: Lifeguard plus collective confirmation. */
  vigil: {},
} as const satisfies Record<string, Partial<Pick<EngineConfig, 'lifeguard' | 'collectiveConfirmation'>>>;

export type Mode = keyof typeof MODES;

export function nodeNames(n: number, prefix = 'node'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
}

/** A converged cluster of `n` nodes, settled for `settleMs` of virtual time. */
export function convergedCluster(
  n: number,
  options: SimulatorOptions,
  settleMs = 3000,
): { sim: Simulator; names: string[] } {
  const sim = new Simulator(options);
  const names = nodeNames(n);
  sim.bootstrap(names);
  sim.run(settleMs);
  return { sim, names };
}

/** When each observer first saw `member` in the given condition. */
export function firstSeen(sim: Simulator, member: string, match: (e: SimEvent) => boolean): Map<string, number> {
  const seen = new Map<string, number>();
  sim.onEvent((e) => {
    if (e.member.name === member && !seen.has(e.observer) && match(e)) seen.set(e.observer, e.at);
  });
  return seen;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A plain-text table for the test output: the figures are the point of these tests. */
export function table(
  title: string,
  header: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string {
  const cells = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r: readonly string[]) => `| ${r.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`;
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [`\n${title}`, line(cells[0]!), rule, ...cells.slice(1).map(line)].join('\n');
}

export function seconds(ms: number): string {
  return (ms / 1000).toFixed(2);
}
