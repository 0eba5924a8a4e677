// A group operation (KV write, read, step-down) carried out on this agent's replica, with its
// answer in the shape the HTTP API sends: the same code serves a local HTTP request and one that
// another agent forwarded here, so a forwarder passes the answer on unchanged.

import type { Runtime } from '../runtime/index.ts';
import type { GroupOp, OpResponse } from './forward-codec.ts';
import { type ElectionGroup, GroupError } from './group.ts';
import { encodeKvCommand } from './kv/kv-codec.ts';
import type { KvResult } from './kv/types.ts';
import type { KvMachine } from './kv-machine.ts';

export interface Replica {
  readonly group: ElectionGroup;
  readonly machine: KvMachine;
}

function fail(status: number, error: string, leader?: string): OpResponse {
  return { status, body: { error, ...(leader ? { leader } : {}) }, ...(leader ? { leader } : {}) };
}

async function carryOut(name: string, replica: Replica, op: GroupOp): Promise<OpResponse> {
  const { group, machine } = replica;
  switch (op.op) {
    case 'write': {
      const problem = machine.store.validate(op.cmd);
      if (problem !== undefined) return fail(problem.includes('limit') ? 413 : 400, problem);
      const result = (await group.propose(encodeKvCommand(op.cmd))) as KvResult | undefined;
      if (result === undefined) return fail(503, 'the write was not applied; retry');
      if (result.ok) return { status: 200, body: { ok: true, index: result.index } };
      if (result.error === 'cas-failed') {
        return {
          status: 409,
          body: { error: `cas failed: the key's index is ${result.current}`, current: result.current },
        };
      }
      return fail(result.error === 'limit' ? 413 : 400, result.message);
    }
    case 'read': {
      if (!op.stale) await group.linearize();
      const entry = machine.store.get(op.key);
      if (entry === undefined) return fail(404, `no key "${op.key.slice(0, 140)}" in ${name}`);
      return {
        status: 200,
        index: entry.modifyIndex,
        body: {
          Key: entry.key,
          Value: Buffer.from(entry.value).toString('base64'),
          CreateIndex: entry.createIndex,
          ModifyIndex: entry.modifyIndex,
        },
      };
    }
    case 'step-down': {
      if (op.to !== undefined && !group.status().voters.includes(op.to)) {
        return fail(400, `to: "${op.to.slice(0, 140)}" is not a voter of ${name}`);
      }
      await group.stepDown(op.to);
      return { status: 200, body: { group: name, steppedDown: true } };
    }
  }
}

/**
 * Runs `op` on this agent's replica of group `name`, answering within `timeoutMs`. A write with no
 * outcome by then may still commit: the answer says so, and nothing retries it.
 */
export async function runGroupOp(
  name: string,
  replica: Replica | undefined,
  op: GroupOp,
  timeoutMs: number,
  runtime: Runtime,
): Promise<OpResponse> {
  if (replica === undefined) return fail(503, `this agent is not a voter of "${name}"`);
  let timer: { cancel(): void } | undefined;
  const deadline = new Promise<OpResponse>((resolve) => {
    timer = runtime.timers.after(timeoutMs, () => {
      const what =
        op.op === 'read'
          ? 'the read did not complete; retry'
          : `its outcome is unknown (it may still take effect) and it was not retried`;
      resolve(fail(503, `no outcome from ${name} within ${timeoutMs} ms: ${what}`, replica.group.status().leader));
    });
  });
  const work = carryOut(name, replica, op).catch((err: unknown) => {
    if (err instanceof GroupError) return fail(err.statusCode, err.message, err.leader);
    return fail(500, `${name}: ${(err as Error).message}`);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    timer?.cancel();
  }
}
