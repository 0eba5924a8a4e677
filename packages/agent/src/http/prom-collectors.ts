import { Counter, Gauge, type Registry } from 'prom-client';

// Collectors whose values are read from the planes at scrape time, so hot paths never touch prom-client.

/** Label values and the number for them. */
export type Samples = readonly (readonly [Record<string, string>, number])[];

/** A counter whose totals are the plane's own, read at scrape time. */
export function counter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: () => Samples,
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, n] of read()) this.inc(labels, n);
    },
  });
}

/** A gauge read at scrape time; label sets no longer read (a removed service) disappear. */
export function gauge(registry: Registry, name: string, help: string, labelNames: string[], read: () => Samples): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, n] of read()) this.set(labels, n);
    },
  });
}
