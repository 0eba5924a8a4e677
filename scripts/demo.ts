// `npm start`: a local cluster on loopback that stops by itself (or on Ctrl-C) and cleans up.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../packages/agent/bin/vigil.js', import.meta.url));
const AGENTS = 3;
const RUN_MS = Number(process.env.VIGIL_DEMO_SECONDS ?? 30) * 1000;

const root = await mkdtemp(join(tmpdir(), 'vigil-demo-'));
const children: ChildProcess[] = [];
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)));
    await rm(root, { recursive: true, force: true });
  })();
  return cleaning;
}
process.once('SIGINT', () => void cleanup().then(() => process.exit(0)));
process.once('SIGTERM', () => void cleanup().then(() => process.exit(0)));

for (let i = 0; i < AGENTS; i++) {
  const name = `agent-${i}`;
  const args = ['agent', '--node', name, '--bind', `127.0.0.1:${17946 + i * 10}`];
  args.push('--http', `127.0.0.1:${17948 + i * 10}`, '--p2p', `127.0.0.1:${17947 + i * 10}`);
  args.push('--data-dir', join(root, name), '--log-level', 'warn');
  if (i > 0) args.push('--join', '127.0.0.1:17946');
  children.push(spawn(process.execPath, [BIN, ...args], { stdio: 'inherit' }));
  console.log(`${name}: API http://127.0.0.1:${17948 + i * 10}/v1/agent/self`);
}
console.log(`demo runs for ${RUN_MS / 1000}s; Ctrl-C stops it sooner`);
await new Promise((r) => setTimeout(r, RUN_MS));
await cleanup();
console.log('demo finished, all agents stopped and temporary files removed');
