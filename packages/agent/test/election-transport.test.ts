import { afterEach, describe, expect, it } from 'vitest';
import type { RaftMessage } from '../src/election/raft/types.ts';
import { decodeFrame, encodeFrame, type MessageCodec, StreamElectionTransport } from '../src/election/transport.ts';
import { realRuntime } from '../src/runtime/index.ts';
import { Cluster, gossipKey, silentLog } from './catalog-harness.ts';
import { waitFor } from './helpers/wait.ts';

// The Raft core's codec lives on the raft branch; this JSON stand-in is enough to carry messages
// through the real libp2p streams, which is what this test is about.
const jsonCodec: MessageCodec = {
  encode: (msg) => new TextEncoder().encode(JSON.stringify(msg)),
  decode: (bytes) => JSON.parse(new TextDecoder().decode(bytes)) as RaftMessage,
};

const heartbeat = (from: string, to: string, term: number): RaftMessage => ({
  type: 'heartbeat',
  from,
  to,
  term,
  commit: 0,
  ctx: 0,
});

let cluster = new Cluster();
const transports: StreamElectionTransport[] = [];
afterEach(async () => {
  for (const t of transports.splice(0)) await t.stop();
  await cluster.stop();
  cluster = new Cluster();
});

describe('election transport over the catalog connections', () => {
  it('frames carry the group name', () => {
    const f = decodeFrame(encodeFrame('db', Uint8Array.of(1, 2)));
    expect(f.group).toBe('db');
    expect([...f.body]).toEqual([1, 2]);
    expect(() => decodeFrame(Uint8Array.of(5, 1))).toThrow();
  });

  it('delivers messages between admitted members and drops a sender speaking for another', async () => {
    const a = await cluster.add('a', { gossipKeys: [gossipKey(7)] });
    const b = await cluster.add('b', { gossipKeys: [gossipKey(7)] });
    cluster.connect();
    const ta = await StreamElectionTransport.start(a.catalog, jsonCodec, realRuntime(), silentLog);
    const tb = await StreamElectionTransport.start(b.catalog, jsonCodec, realRuntime(), silentLog);
    transports.push(ta, tb);
    const got: [string, RaftMessage][] = [];
    tb.onMessage((group, msg) => got.push([group, msg]));
    // the first sends may find no stream yet: they queue, then go out once it opens
    await waitFor(() => {
      ta.send('db', heartbeat('a', 'b', 3));
      return got.length > 0;
    }, 'a message from a to b');
    expect(got[0]).toEqual(['db', heartbeat('a', 'b', 3)]);
    ta.send('db', heartbeat('c', 'b', 4)); // a claims to be c
    await waitFor(() => tb.counters.impersonation > 0, 'the impersonation to be counted');
    expect(got.every(([, m]) => m.from === 'a')).toBe(true);
  });
});
