import { createParser, type EventSourceParser } from 'eventsource-parser';

/**
 * The agent's event stream, parsed by `eventsource-parser` (the WHATWG "event stream
 * interpretation": CRLF/LF/CR line ends split across chunks, multi-line data, comments). It also
 * bounds what an unterminated line may buffer, which the hand-written parser this replaces did not:
 * a hostile or broken agent could grow it without limit. `retry` is ignored: the client has its
 * own reconnect policy.
 */
export interface SseEvent {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: string;
}

/** The longest line (or event) buffered before the stream counts as broken: 4 MiB. */
export const MAX_SSE_BUFFER = 4 * 1024 * 1024;

export class SseParser {
  private readonly parser: EventSourceParser;
  private broken: Error | undefined;

  constructor(onEvent: (event: SseEvent) => void, maxBuffer = MAX_SSE_BUFFER) {
    this.parser = createParser({
      maxBufferSize: maxBuffer,
      onEvent: (e) => onEvent({ id: e.id, event: e.event ?? 'message', data: e.data }),
      // Unknown fields and bad `retry` values are ignored, as the spec says; only an overlong
      // line breaks the stream.
      onError: (err) => {
        if (err.type === 'max-buffer-size-exceeded') this.broken ??= new Error(`event stream: ${err.message}`);
      },
    });
  }

  /** Feeds decoded text; calls onEvent for each complete event. Throws once the stream is broken. */
  feed(text: string): void {
    if (this.broken === undefined) this.parser.feed(text);
    if (this.broken !== undefined) throw this.broken;
  }
}
