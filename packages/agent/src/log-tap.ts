import { Writable } from 'node:stream';

/** Takes one log line (pino's JSON, no newline); false when it was full and dropped the line. */
export type LogSubscriber = (line: string) => boolean;

/**
 * A second destination for the agent's log (pino multistream): every JSON line goes to the
 * subscribers of `vigil monitor` / GET /v1/agent/monitor too; with none, it is dropped at once.
 */
export class LogTap extends Writable {
  private readonly subscribers = new Set<LogSubscriber>();

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.subscribers.size > 0) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue;
        for (const s of this.subscribers) s(line);
      }
    }
    done();
  }

  subscribe(subscriber: LogSubscriber): () => void {
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }
}
