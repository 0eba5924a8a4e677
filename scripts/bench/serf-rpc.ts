// A small client for Serf's agent RPC (msgpack over TCP, the protocol `serf members` itself uses):
// a request header {Command, Seq} and an optional body; a response header {Seq, Error} and, for
// commands that have one, a body. One persistent connection per agent makes a poll a single
// round trip, where `serf members -format json` would fork and exec a Go binary for each poll.

import { connect, type Socket } from 'node:net';
import { encode, type Msg, tryDecode } from './msgpack-mini.ts';

export interface SerfRpcMember {
  readonly name: string;
  readonly status: string;
}

interface Pending {
  readonly hasBody: boolean;
  header?: { [key: string]: Msg };
  resolve(body: Msg | undefined): void;
  reject(err: Error): void;
}

export class SerfRpc {
  private readonly socket: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private order: number[] = [];
  private closed: Error | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (d) => this.onData(d));
    const fail = (err: Error) => {
      this.closed ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('serf rpc connection closed')));
  }

  static async connect(port: number, timeoutMs = 2000): Promise<SerfRpc> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error('serf rpc connect timeout'));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const rpc = new SerfRpc(socket);
    await rpc.call('handshake', { Version: 1 }, false);
    return rpc;
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let off = 0;
    for (;;) {
      const seqNow = this.order[0];
      if (seqNow === undefined) break;
      const p = this.pending.get(seqNow)!;
      if (!p.header) {
        const h = tryDecode(this.buf, off);
        if (!h) break;
        off = h.next;
        p.header = h.value as { [key: string]: Msg };
        if (p.header.Error) {
          this.finish(seqNow);
          p.reject(new Error(`serf rpc: ${String(p.header.Error)}`));
          continue;
        }
        if (!p.hasBody) {
          this.finish(seqNow);
          p.resolve(undefined);
          continue;
        }
      }
      const b = tryDecode(this.buf, off);
      if (!b) break;
      off = b.next;
      this.finish(seqNow);
      p.resolve(b.value);
    }
    this.buf = off === 0 ? this.buf : this.buf.subarray(off);
  }

  private finish(seq: number): void {
    this.pending.delete(seq);
    this.order.shift();
  }

  /** Sends one command; resolves with its body (if `hasBody`). Serf answers in order. */
  call(command: string, body: Msg | undefined, hasBody: boolean, timeoutMs = 5000): Promise<Msg | undefined> {
    if (this.closed) return Promise.reject(this.closed);
    const seq = this.seq++;
    const frames = [encode({ Command: command, Seq: seq })];
    if (body !== undefined) frames.push(encode(body));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // A lost answer would desynchronise the stream: give up on this connection.
        this.socket.destroy(new Error(`serf rpc ${command} timed out`));
      }, timeoutMs);
      this.pending.set(seq, {
        hasBody,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.order.push(seq);
      this.socket.write(Buffer.concat(frames));
    });
  }

  async members(): Promise<SerfRpcMember[]> {
    const body = (await this.call('members', undefined, true)) as { Members: { Name: string; Status: string }[] };
    return body.Members.map((m) => ({ name: m.Name, status: m.Status }));
  }

  async join(addr: string): Promise<number> {
    const body = (await this.call('join', { Existing: [addr], Replay: false }, true, 15_000)) as { Num: number };
    return body.Num;
  }

  /** Graceful leave; the agent shuts down afterwards. */
  async leave(): Promise<void> {
    await this.call('leave', undefined, false, 15_000);
  }

  close(): void {
    this.closed ??= new Error('closed');
    this.socket.destroy();
  }
}
