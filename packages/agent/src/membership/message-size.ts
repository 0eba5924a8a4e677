import type { Message } from '@vigil/protocol';

/** Bound for one msgpack map entry without its variable part: key (<= 12 chars + header) + value header + int. */
const FIELD = 18;

/**
 * An upper bound on a message's encoded size, for packing broadcasts into packets without
 * encoding them twice. The edge encodes exactly and splits a packet that still overflows.
 */
export function estimateSize(m: Message): number {
  const base = 4;
  switch (m.type) {
    case 'ping':
      return base + 5 * FIELD + m.node.length * 3 + (m.sourceNode?.length ?? 0) * 3 + 16;
    case 'indirectPing':
      return base + 8 * FIELD + m.node.length * 3 + (m.sourceNode?.length ?? 0) * 3 + 32;
    case 'ack':
      return base + 2 * FIELD + m.payload.length;
    case 'nack':
      return base + FIELD;
    case 'suspect':
    case 'dead':
      return base + 3 * FIELD + (m.node.length + m.from.length) * 3;
    case 'alive':
      return base + 6 * FIELD + m.node.length * 3 + m.addr.length + m.meta.length + m.vsn.length;
    case 'user':
      return base + m.payload.length;
    case 'err':
      return base + FIELD + m.error.length * 3;
    case 'pushPull':
      return base + 3 * FIELD + m.userState.length + m.nodes.length * (7 * FIELD + 64);
    default:
      return base;
  }
}
