import type { GrpcCheckSpec } from './check-spec.ts';
import type { ProbeContext } from './probe.ts';
import type { CheckResult } from './status.ts';

/**
 * gRPC check: calls the standard `grpc.health.v1.Health/Check` over HTTP/2 (no gRPC library: the
 * request and reply are one-field protobuf messages). SERVING is passing; anything else, a gRPC
 * error status or no answer is critical.
 */

const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** `HealthCheckRequest { string service = 1; }` in a gRPC length-prefixed frame. */
export function encodeHealthRequest(service: string): Buffer {
  const name = Buffer.from(service);
  const message = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
  const frame = Buffer.alloc(5);
  frame.writeUInt32BE(message.length, 1);
  return Buffer.concat([frame, message]);
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  let rest = n;
  while (rest >= 0x80) {
    bytes.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** Reads `HealthCheckResponse { ServingStatus status = 1; }` from one gRPC frame; undefined if malformed. */
export function decodeHealthResponse(data: Buffer): number | undefined {
  if (data.length < 5 || data[0] !== 0) return undefined;
  const length = data.readUInt32BE(1);
  const message = data.subarray(5, 5 + length);
  if (message.length !== length) return undefined;
  let status = 0; // proto3: an absent field is its default, UNKNOWN
  let i = 0;
  while (i < message.length) {
    const key = message[i++]!;
    if (key === 0x08) {
      let value = 0;
      let shift = 0;
      for (;;) {
        const byte = message[i++];
        if (byte === undefined) return undefined;
        value |= (byte & 0x7f) << shift;
        shift += 7;
        if ((byte & 0x80) === 0) break;
      }
      status = value;
    } else {
      return undefined; // unknown fields are not expected in this message
    }
  }
  return status;
}

export function runGrpcCheck(spec: GrpcCheckSpec, ctx: ProbeContext): Promise<CheckResult> {
  const slash = spec.target.indexOf('/');
  const authority = slash === -1 ? spec.target : spec.target.slice(0, slash);
  const service = slash === -1 ? '' : spec.target.slice(slash + 1);
  const label = `gRPC check ${spec.target}`;
  // At first use, not as an import: node:http2 pulls in TLS (~38 ms of CPU at every agent start,
  // most of which run no gRPC check).
  const { connect, constants } = process.getBuiltinModule('node:http2');
  return new Promise((resolve) => {
    let settled = false;
    const session = connect(`${spec.useTls ? 'https' : 'http'}://${authority}`, {
      rejectUnauthorized: !spec.tlsSkipVerify,
    });
    const finish = (result: CheckResult) => {
      if (settled) return;
      settled = true;
      ctx.signal.removeEventListener('abort', onAbort);
      session.destroy();
      resolve(result);
    };
    const onAbort = () => finish({ status: 'critical', output: `${label}: aborted` });
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    if (ctx.signal.aborted) return onAbort();
    session.once('error', (err) => finish({ status: 'critical', output: `${label}: ${err.message}` }));
    const stream = session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: '/grpc.health.v1.Health/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let headers: Record<string, unknown> = {};
    stream.on('response', (h) => {
      headers = h;
    });
    stream.on('data', (chunk: Buffer) => {
      if (chunks.reduce((n, c) => n + c.length, 0) < 64 * 1024) chunks.push(chunk);
    });
    stream.once('error', (err) => finish({ status: 'critical', output: `${label}: ${err.message}` }));
    stream.once('trailers', (trailers) => {
      headers = { ...headers, ...trailers };
    });
    stream.once('close', () => {
      const grpcStatus = String(headers['grpc-status'] ?? '');
      if (grpcStatus !== '0') {
        const why = headers['grpc-message'] ?? `HTTP status ${headers[':status'] ?? 'none'}`;
        return finish({ status: 'critical', output: `${label}: gRPC status ${grpcStatus || 'missing'}: ${why}` });
      }
      const status = decodeHealthResponse(Buffer.concat(chunks));
      if (status === undefined) return finish({ status: 'critical', output: `${label}: malformed reply` });
      const name = SERVING_STATUS[status] ?? `status ${status}`;
      finish({ status: status === 1 ? 'passing' : 'critical', output: `${label}: ${name}` });
    });
    stream.end(encodeHealthRequest(service));
  });
}
