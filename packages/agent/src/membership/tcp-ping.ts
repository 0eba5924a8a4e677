import type { Message } from '@vigil/protocol';

/**
 * How memberlist's TCP fallback ping ended, as the engine takes it in. `refused` is apart from
 * `failed` because it is evidence a starved observer can trust (confirmation.ts): the peer's
 * kernel answered the connect with a reset, so nothing listens on its gossip port. A live process
 * whose event loop is frozen still has its connects accepted by the kernel (the listen backlog),
 * and our own stall cannot make a connect refused. Timeouts, unreachable hosts and every other
 * error say nothing of the kind and count as `failed`.
 */
export type TcpPingResult = 'ack' | 'refused' | 'failed';

/** A dial's error with the kernel's errno code (the transports keep it: transport.ts). */
export function isConnectionRefused(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ECONNREFUSED';
}

/** Runs one TCP ping (`exchange`: dial, send the ping, read the reply) and classifies how it ended. */
export async function runTcpPing(exchange: () => Promise<Message>, seqNo: number): Promise<TcpPingResult> {
  try {
    const reply = await exchange();
    return reply.type === 'ack' && reply.seqNo === seqNo ? 'ack' : 'failed';
  } catch (err) {
    return isConnectionRefused(err) ? 'refused' : 'failed';
  }
}
