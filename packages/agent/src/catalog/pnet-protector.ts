// libp2p private network (pnet v1) connection protector, wire-compatible with @libp2p/pnet and
// go-libp2p's pnet: each side sends a random 24-byte nonce, then everything is XORed with an
// XSalsa20 keystream under the shared 32-byte key and the sender's nonce.
//
// Why not @libp2p/pnet itself (3.0.27): it encrypts through the `xsalsa20` package (1.2.0), whose
// WebAssembly wrapper is unsafe for a long-running agent:
//   - every stream reserves a 64-byte slot in one module-wide WASM memory and gives it back only in
//     finalize(), which @libp2p/pnet never calls, so each connection that gets past the 24-byte
//     nonce exchange (no authentication needed for that) leaks two slots for the life of the process;
//   - once the slots push the working area past the initial 640 KiB, the memory grows, which
//     detaches every other stream's view of it; each of those then sees length 0 and grows the
//     memory again on its next chunk, so the growth cascades until the 64 MiB maximum, and the
//     resulting RangeError is thrown inside a socket 'message' listener: an uncaught exception
//     that takes the whole agent down.
// Reproduced: ~5,000 connections over a process's lifetime (any host that can reach the port can
// open them), then two connections carrying 64 KiB reads, crash it; 50 in-process test agents in
// a full mesh crash the test process the same way. This implementation keeps each stream's state
// in its own object (pure JS, @noble/ciphers), so a closed connection leaves nothing behind.

import type { AbortOptions, ConnectionProtector, MultiaddrConnection } from '@libp2p/interface';
import { AbstractMultiaddrConnection, byteStream } from '@libp2p/utils';
import { xsalsa20 } from '@noble/ciphers/salsa.js';
import type { Uint8ArrayList } from 'uint8arraylist';

export const PNET_NONCE_BYTES = 24;
const BLOCK_BYTES = 64;
/** @noble/ciphers takes a 32-bit block counter: 256 GiB per direction per connection. */
const MAX_STREAM_BYTES = (2 ** 32 - 2) * BLOCK_BYTES;

/** An XSalsa20 keystream applied to consecutive chunks of one direction of a connection. */
export class XSalsa20Stream {
  private readonly key: Uint8Array;
  private readonly nonce: Uint8Array;
  private position = 0;

  constructor(key: Uint8Array, nonce: Uint8Array) {
    if (key.length !== 32) throw new Error(`pnet key must be 32 bytes, not ${key.length}`);
    if (nonce.length !== PNET_NONCE_BYTES) throw new Error(`pnet nonce must be 24 bytes, not ${nonce.length}`);
    this.key = Uint8Array.from(key);
    this.nonce = Uint8Array.from(nonce);
  }

  /** XORs `data` with the next `data.length` keystream bytes; returns a new buffer. */
  update(data: Uint8Array): Uint8Array {
    if (data.length === 0) return new Uint8Array(0);
    if (this.position + data.length > MAX_STREAM_BYTES) throw new Error('pnet: keystream exhausted on this connection');
    const counter = Math.floor(this.position / BLOCK_BYTES);
    const skip = this.position % BLOCK_BYTES;
    this.position += data.length;
    if (skip === 0) return xsalsa20(this.key, this.nonce, data, undefined, counter);
    // Mid-block: encrypt from the block start and drop the bytes already used.
    const padded = new Uint8Array(skip + data.length);
    padded.set(data, skip);
    return xsalsa20(this.key, this.nonce, padded, undefined, counter).subarray(skip);
  }
}

interface PnetConnectionInit {
  readonly maConn: MultiaddrConnection;
  readonly key: Uint8Array;
  readonly localNonce: Uint8Array;
  /** The peer's keystream, possibly already advanced past `received`. */
  readonly inbound: XSalsa20Stream;
  /** Plaintext read off the connection while choosing the key. */
  readonly received?: Uint8Array;
}

/** The protected connection: the same shape as @libp2p/pnet's BoxMessageStream. */
class PnetConnection extends AbstractMultiaddrConnection {
  private readonly maConn: MultiaddrConnection;
  private readonly inbound: XSalsa20Stream;
  private readonly outbound: XSalsa20Stream;

  constructor(init: PnetConnectionInit) {
    super({
      log: init.maConn.log.newScope('vigil-pnet'),
      remoteAddr: init.maConn.remoteAddr,
      direction: init.maConn.direction,
    });
    this.maConn = init.maConn;
    this.inbound = init.inbound;
    this.outbound = new XSalsa20Stream(init.key, init.localNonce);
    // Held in the read buffer until the upgrader listens; bytes still on the socket follow it.
    if (init.received) this.onData(init.received);
    this.maConn.addEventListener('message', (evt) => {
      const data = evt.data;
      if (data instanceof Uint8Array) {
        this.onData(this.inbound.update(data));
      } else {
        for (const buf of data) this.onData(this.inbound.update(buf));
      }
    });
    this.maConn.addEventListener('drain', () => {
      this.onMuxerDrain();
    });
    this.maConn.addEventListener('close', (evt) => {
      if (evt.error != null) {
        if (evt.local) this.abort(evt.error);
        else this.onRemoteReset();
      } else {
        this.onTransportClosed();
      }
    });
  }

  async sendClose(options?: AbortOptions): Promise<void> {
    await this.maConn.close(options);
  }

  sendData(data: Uint8ArrayList): { sentBytes: number; canSendMore: boolean } {
    return { sentBytes: data.byteLength, canSendMore: this.maConn.send(this.outbound.update(data.subarray())) };
  }

  sendReset(err: Error): void {
    this.maConn.abort(err);
  }

  sendPause(): void {
    this.maConn.pause();
  }

  sendResume(): void {
    this.maConn.resume();
  }
}

/**
 * What a libp2p dialer sends first, once pnet is up: multistream-select's header, length-prefixed.
 * A listener holding several keys (during a gossip key rotation) finds the dialer's key by which
 * one turns the first bytes into this. The listener speaks only after reading, so it can answer
 * under the same key.
 */
const MSS_HEADER = new TextEncoder().encode('\x13/multistream/1.0.0\n');

/** The keys the protector uses: the first to dial, any of them to accept. Read per connection. */
export type PnetKeySource = () => readonly Uint8Array[];

class PnetProtector implements ConnectionProtector {
  private readonly keys: PnetKeySource;
  private readonly timeoutMs: number;

  constructor(keys: PnetKeySource, timeoutMs: number) {
    this.keys = keys;
    this.timeoutMs = timeoutMs;
  }

  readonly [Symbol.toStringTag] = '@vigil/pnet';

  async protect(connection: MultiaddrConnection, options?: AbortOptions): Promise<MultiaddrConnection> {
    const keys = this.keys();
    const localNonce = crypto.getRandomValues(new Uint8Array(PNET_NONCE_BYTES));
    const opts = options ?? { signal: AbortSignal.timeout(this.timeoutMs) };
    const bytes = byteStream(connection);
    const [remote] = await Promise.all([
      bytes.read({ bytes: PNET_NONCE_BYTES, ...opts }),
      bytes.write(localNonce, opts),
    ]);
    const remoteNonce = remote.subarray();
    if (connection.direction === 'outbound' || keys.length === 1) {
      const key = keys[0]!;
      return new PnetConnection({
        maConn: bytes.unwrap(),
        key,
        localNonce,
        inbound: new XSalsa20Stream(key, remoteNonce),
      });
    }
    const first = (await bytes.read({ bytes: MSS_HEADER.length, ...opts })).subarray();
    for (const key of keys) {
      const inbound = new XSalsa20Stream(key, remoteNonce);
      const received = inbound.update(first);
      if (received.every((b, i) => b === MSS_HEADER[i])) {
        return new PnetConnection({ maConn: bytes.unwrap(), key, localNonce, inbound, received });
      }
    }
    throw new Error('pnet: the peer uses none of our keys');
  }
}

/**
 * A libp2p `connectionProtector` over pnet keys (see pnet-key.ts for their derivation): dials with
 * the first key, accepts a dialer using any of them.
 */
export function pnetProtector(keys: PnetKeySource, timeoutMs = 1_000): () => ConnectionProtector {
  const protector = new PnetProtector(keys, timeoutMs);
  return () => protector;
}
