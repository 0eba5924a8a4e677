/**
 * A small incremental parser for Server-Sent Events (the WHATWG "event stream interpretation"):
 * fields `id`, `event`, `data` (multi-line joined with \n), comments, and any of CRLF, LF or CR as
 * line ends, also when a chunk boundary splits them. `retry` is ignored: the client has its own
 * reconnect policy.
 */
export interface SseEvent {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: string;
}

export class SseParser {
  private readonly onEvent: (event: SseEvent) => void;
  private pending = '';
  private skipLeadingLf = false;
  private data: string[] = [];
  private eventType = '';
  private lastId: string | undefined;
  private idSeen = false;

  constructor(onEvent: (event: SseEvent) => void) {
    this.onEvent = onEvent;
  }

  /** Feeds decoded text; calls onEvent for each complete event. */
  feed(text: string): void {
    let buf = this.pending + text;
    let start = 0;
    if (this.skipLeadingLf && buf.length > 0) {
      if (buf.charCodeAt(0) === 10) start = 1;
      this.skipLeadingLf = false;
    }
    for (let i = start; i < buf.length; i++) {
      const c = buf.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(buf.slice(start, i));
      if (c === 13) {
        if (i + 1 < buf.length) {
          if (buf.charCodeAt(i + 1) === 10) i++;
        } else {
          this.skipLeadingLf = true;
        }
      }
      start = i + 1;
    }
    buf = buf.slice(start);
    this.pending = buf;
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ':' comment (keepalive)
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.eventType = value;
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.lastId = value;
          this.idSeen = true;
        }
        break;
      default:
        break;
    }
  }

  private dispatch(): void {
    const hasData = this.data.length > 0;
    const event: SseEvent = {
      id: this.idSeen ? this.lastId : undefined,
      event: this.eventType || 'message',
      data: this.data.join('\n'),
    };
    this.data = [];
    this.eventType = '';
    this.idSeen = false;
    if (hasData) this.onEvent(event);
  }
}
