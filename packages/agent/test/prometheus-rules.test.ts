import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// The shipped alert rules, through Prometheus' own tool (Debian's `prometheus` package provides
// promtool; .ci/run installs it).

const exec = promisify(execFile);
const DIR = fileURLToPath(new URL('../../../packaging/prometheus/', import.meta.url));
const HTTP_SRC = fileURLToPath(new URL('../src/http/', import.meta.url));

describe('packaging/prometheus/vigil-rules.yml', () => {
  it('passes promtool check rules', async () => {
    const { stdout } = await exec('promtool', ['check', 'rules', 'vigil-rules.yml'], { cwd: DIR });
    expect(stdout).toMatch(/SUCCESS: 5 rules found/);
  });

  it('passes its promtool unit tests (N+0, flapping, catalog out of date, agent alone)', async () => {
    const { stdout } = await exec('promtool', ['test', 'rules', 'vigil-rules.test.yml'], { cwd: DIR });
    expect(stdout).toMatch(/SUCCESS/);
  });

  it('reads only metrics the agent exports', () => {
    const rules = readFileSync(`${DIR}/vigil-rules.yml`, 'utf8');
    const used = new Set([...rules.matchAll(/\b(vigil_[a-z_]+)\b/g)].map((m) => m[1]));
    const sources = readdirSync(HTTP_SRC)
      .map((f) => readFileSync(`${HTTP_SRC}/${f}`, 'utf8'))
      .join('\n');
    expect(used.size).toBeGreaterThan(3);
    for (const name of used) expect(sources, name).toContain(`'${name}'`);
  });
});
