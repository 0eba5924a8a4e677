import {
  type DropReason,
  decodeNodeMeta,
  type Message,
  nodeNameProblem,
  nodeTagsProblem,
  type PushPull,
} from '@vigil/protocol';

/**
 * Member names and tags from gossip pass the same rule as `--node` and `--tag` (names.ts in
 * @vigil/protocol) before the engine sees them: a spoofed `alive` naming a member with escape
 * sequences, newlines or 3000 characters would otherwise spread through the cluster and reach
 * terminals, logs and metrics. What breaks the rule is dropped and counted under a reason.
 */

export type ScreenDrop = (reason: DropReason, detail: string) => void;

/** Why a member record (name, and tags when it carries metadata) must be dropped. */
export function memberRecordProblem(
  name: string,
  meta: Uint8Array | undefined,
): { reason: DropReason; detail: string } | undefined {
  const nameProblem = nodeNameProblem(name);
  // The name itself is not repeated: it is what must not reach a log.
  if (nameProblem !== undefined) {
    return { reason: 'invalid-name', detail: `a member name of ${name.length} characters: ${nameProblem}` };
  }
  if (meta === undefined) return undefined;
  let tags: ReturnType<typeof decodeNodeMeta>;
  try {
    tags = decodeNodeMeta(meta);
  } catch {
    // Unreadable metadata shows as no tags (memberTags), as Serf keeps what it could read.
    return undefined;
  }
  const tagsProblem = nodeTagsProblem(tags);
  return tagsProblem === undefined ? undefined : { reason: 'invalid-tags', detail: `member ${name}: ${tagsProblem}` };
}

function messageProblem(msg: Message): { reason: DropReason; detail: string } | undefined {
  switch (msg.type) {
    case 'alive':
      return memberRecordProblem(msg.node, msg.meta);
    case 'suspect':
    case 'dead':
      return memberRecordProblem(msg.node, undefined) ?? memberRecordProblem(msg.from, undefined);
    default:
      return undefined;
  }
}

/** The messages of a packet without those naming members badly; `drop` hears of each one left out. */
export function screenMessages(messages: readonly Message[], drop: ScreenDrop): readonly Message[] {
  // Packets never carry push/pull (the packet decoder drops it); streams go through screenPushPull.
  return messages.filter((msg) => {
    const problem = messageProblem(msg);
    if (problem !== undefined) drop(problem.reason, problem.detail);
    return problem === undefined;
  });
}

/** A push/pull state without the member records that break the rule; the rest still syncs. */
export function screenPushPull(msg: PushPull, drop: ScreenDrop): PushPull {
  const nodes = msg.nodes.filter((node) => {
    const problem = memberRecordProblem(node.name, node.meta);
    if (problem !== undefined) drop(problem.reason, problem.detail);
    return problem === undefined;
  });
  return nodes.length === msg.nodes.length ? msg : { ...msg, nodes };
}
