// mesh.elect(): the application itself stands for an election group (a lock) through its local
// agent, as `vigil lock` does. Each poll that says "held" grants acting for `validMs`, counted
// from before the poll was sent; if no newer grant arrives, the application is told to stop
// (`onDemoted`, and the signal given to `onElected` aborts) at that deadline, so it stops before
// another holder can be elected even when the agent is gone.

import { randomBytes } from 'node:crypto';

export interface Elected {
  /** The fencing token: send it with every write the leadership makes; it only rises. */
  readonly token: number;
  readonly term: number;
  /** Aborts when the leadership may be lost: stop acting at once. */
  readonly signal: AbortSignal;
}

export interface ElectHandlers {
  onElected(elected: Elected): void;
  onDemoted?(): void;
  /** How often the lease is renewed with the agent; default 100 ms. */
  readonly pollMs?: number;
}

export interface Election {
  /** Whether this application holds the leadership now. */
  readonly leading: boolean;
  /** Stops standing (demoting first if leading). */
  stop(): Promise<void>;
}

interface Grant {
  held: boolean;
  validMs: number;
  token: number;
  term: number;
}

export function startElection(
  agent: string,
  token: string | undefined,
  name: string,
  handlers: ElectHandlers,
  now: () => number,
): Election {
  const session = randomBytes(12).toString('hex');
  const url = `${agent}/v1/elections/${encodeURIComponent(name)}/lock?session=${session}`;
  const headers: Record<string, string> = token ? { 'x-vigil-token': token } : {};
  const pollMs = handlers.pollMs ?? 100;
  let stopped = false;
  let current: AbortController | undefined;
  let deadline = Number.NEGATIVE_INFINITY;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const demote = () => {
    if (current === undefined) return;
    clearTimeout(timer);
    current.abort(new Error(`leadership of ${name} may be lost`));
    current = undefined;
    deadline = Number.NEGATIVE_INFINITY;
    handlers.onDemoted?.();
  };

  const request = (method: string) =>
    fetch(url, { method, headers, signal: AbortSignal.timeout(Math.max(500, pollMs * 5)) });

  const loop = async () => {
    await request('PUT').catch(() => {});
    while (!stopped) {
      const sentAt = now();
      let grant: Grant | undefined;
      try {
        const res = await request('GET');
        if (res.status === 404)
          await request('PUT'); // the agent restarted: stand again
        else if (res.ok) grant = (await res.json()) as Grant;
      } catch {
        // no answer: no grant
      }
      if (stopped) break;
      if (grant?.held && grant.validMs > 0) {
        deadline = Math.max(deadline, sentAt + grant.validMs);
        clearTimeout(timer);
        timer = setTimeout(demote, Math.max(0, deadline - now()));
        if (current === undefined) {
          current = new AbortController();
          handlers.onElected({ token: grant.token, term: grant.term, signal: current.signal });
        }
      } else {
        demote();
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  };
  const running = loop();

  return {
    get leading() {
      return current !== undefined;
    },
    async stop() {
      stopped = true;
      demote();
      await running;
      await request('DELETE').catch(() => {});
    },
  };
}
