// Follows an agent's GET /v1/events (Server-Sent Events). The benchmarks watch agents this way
// rather than by polling: polling 50 agents every 50 ms is 1,000 requests a second, which on a
// 2-core host costs the agents a sizeable share of the CPU whose effect is being measured.

export interface AgentEvent {
  readonly id: number;
  readonly type: string;
  readonly data: unknown;
  /** now() when the chunk holding it arrived: late by however long this process stalled. */
  readonly at: number;
  /** The agent's own stamp (its `at` field, Date.now() there) of when the change happened. */
  readonly agentAt: number | undefined;
}

/** The benchmarks' clock, which event times are on. */
export const now = () => performance.timeOrigin + performance.now();

/**
 * Calls onEvent for every event of agent `httpPort` until `stop` aborts, reconnecting after a
 * dropped stream (from the last id seen, so nothing is missed while the agent lives). Resolves once
 * the stream is open (its hello): a change made before that would never be seen.
 */
export function followEvents(httpPort: number, onEvent: (e: AgentEvent) => void, stop: AbortSignal): Promise<void> {
  let opened!: () => void;
  const open = new Promise<void>((resolve) => {
    opened = resolve;
  });
  void (async () => {
    let lastId: number | undefined;
    while (!stop.aborted) {
      try {
        const res = await fetch(`http://127.0.0.1:${httpPort}/v1/events`, {
          signal: stop,
          headers: lastId === undefined ? {} : { 'last-event-id': String(lastId) },
        });
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        const reader = res.body!.getReader();
        const decoder = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const at = now();
          buf += decoder.decode(value, { stream: true });
          let end = buf.indexOf('\n\n');
          while (end >= 0) {
            const block = buf.slice(0, end);
            buf = buf.slice(end + 2);
            end = buf.indexOf('\n\n');
            const field = (name: string) =>
              block
                .split('\n')
                .find((l) => l.startsWith(`${name}: `))
                ?.slice(name.length + 2);
            const type = field('event');
            const data = field('data');
            if (type === undefined || data === undefined) continue; // a keepalive comment
            const id = Number(field('id'));
            const stamp = field('at');
            lastId = id;
            if (type === 'hello' || type === 'resync') opened();
            onEvent({
              id,
              type,
              data: JSON.parse(data) as unknown,
              at,
              agentAt: stamp === undefined ? undefined : Number(stamp),
            });
          }
        }
      } catch {
        // the agent is down or restarting: try again shortly
      }
      if (!stop.aborted) await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return open;
}
