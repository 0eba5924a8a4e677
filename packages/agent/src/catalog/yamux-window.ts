// Yamux receive-window updates once half the window is used, as go-yamux and rust-yamux send them,
// instead of after every data frame as @libp2p/yamux 8.0.3 does (stream.js handleData →
// sendWindowUpdate). Every gossipsub RPC a peer sends us is one data frame, so the library answers
// each with a 12-byte window-update frame that is Noise-encrypted, pnet-encrypted and written on
// its own, and the sender decrypts and decodes it: a second message for every message on the
// catalog plane. With the whole 256 KiB window to spend before an update, a catalog connection
// (records ≤ 64 KiB, updates of a few hundred bytes) sends one every few hundred messages.
//
// The wire protocol is unchanged (an update is still a delta to add to the sender's window, sent
// before the window runs out), so agents with and without this interoperate. The library has no
// setting for it; this wraps its muxer factory and replaces one method per stream. It relies on
// @libp2p/yamux internals (pinned to 8.0.3 in package.json): if they are not as expected it
// leaves the stream alone, and yamux-window.test.ts fails, so an upgrade cannot silently lose it.

import type { StreamMuxerFactory } from '@libp2p/interface';

/** YamuxStream's StreamState.Established: data flows, no SYN/ACK flag owed. */
const ESTABLISHED = 3;

interface YamuxStreamInternals {
  state: number;
  recvWindow: number;
  recvWindowCapacity: number;
  sendWindowUpdate(): void;
}

interface YamuxMuxerInternals {
  _newStream(...args: unknown[]): unknown;
}

/** Wraps `yamux(...)`'s factory: its streams send a window update only once half the window is used. */
export function halfWindowUpdates<C>(
  factory: (components: C) => StreamMuxerFactory,
): (components: C) => StreamMuxerFactory {
  return (components) => {
    const muxerFactory = factory(components);
    const create = muxerFactory.createStreamMuxer.bind(muxerFactory);
    muxerFactory.createStreamMuxer = (conn) => {
      const muxer = create(conn);
      const internals = muxer as unknown as Partial<YamuxMuxerInternals>;
      const newStream = internals._newStream;
      if (typeof newStream !== 'function') return muxer;
      internals._newStream = (...args: unknown[]) => {
        const stream = newStream.apply(muxer, args);
        lazyWindowUpdates(stream);
        return stream;
      };
      return muxer;
    };
    return muxerFactory;
  };
}

function lazyWindowUpdates(stream: unknown): void {
  const s = stream as Partial<YamuxStreamInternals>;
  if (
    typeof s.sendWindowUpdate !== 'function' ||
    typeof s.state !== 'number' ||
    typeof s.recvWindow !== 'number' ||
    typeof s.recvWindowCapacity !== 'number'
  ) {
    return;
  }
  const update = s.sendWindowUpdate.bind(stream);
  const internals = s as YamuxStreamInternals;
  // Opening, accepting, pausing and resuming keep the library's own behaviour (they carry flags or
  // must announce the window); only the plain per-frame update waits for half the window.
  internals.sendWindowUpdate = () => {
    if (internals.state === ESTABLISHED && internals.recvWindowCapacity > internals.recvWindow / 2) return;
    update();
  };
}
