// Loaded into Vigil agents with `node --import` ONLY when the benchmark is run with
// --guard-socket-errors. It stands in for a missing fix: the agent's inbound gossip TCP socket has
// no 'error' listener once the request is read, so a peer that hangs up before reading the reply
// (as a prober does when its fallback-ping deadline passes under load) makes the reply's write
// fail with ECONNRESET, an unhandled 'error' event, and the whole agent exits. With this guard, a
// socket 'error' that nobody listens for is dropped, which is what a no-op listener on those
// sockets would do. Every other behaviour of the agent is untouched.

import { Socket } from 'node:net';

const emit = Socket.prototype.emit as (this: Socket, event: string | symbol, ...args: unknown[]) => boolean;
Socket.prototype.emit = function guardedEmit(this: Socket, event: string | symbol, ...args: unknown[]): boolean {
  if (event === 'error' && this.listenerCount('error') === 0) {
    process.stderr.write(`socket-error-guard: dropped an unhandled socket error: ${String(args[0])}\n`);
    return false;
  }
  return emit.call(this, event, ...args);
} as typeof Socket.prototype.emit;
