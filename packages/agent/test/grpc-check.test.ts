import { createServer, type Http2Server, type ServerHttp2Session } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeHealthResponse, encodeHealthRequest, runGrpcCheck } from '../src/health/grpc-check.ts';
import type { GrpcCheckSpec } from '../src/services/definition.ts';
import { pollingCheckOf, probeCtx } from './helpers/checks.ts';

/** A minimal grpc.health.v1 server over node:http2: replies with `statuses[service]`. */
async function healthServer(statuses: Record<string, number>) {
  const sessions = new Set<ServerHttp2Session>();
  const server: Http2Server = createServer();
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const data = Buffer.concat(chunks);
      const service = data.length > 7 ? data.subarray(7).toString() : '';
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      const status = statuses[service];
      stream.on('wantTrailers', () => {
        if (status === undefined) stream.sendTrailers({ 'grpc-status': '5', 'grpc-message': 'unknown service' });
        else stream.sendTrailers({ 'grpc-status': '0' });
      });
      if (headers[':path'] !== '/grpc.health.v1.Health/Check' || status === undefined) {
        stream.end();
        return;
      }
      const message = Buffer.from([0x08, status]);
      const frame = Buffer.alloc(5);
      frame.writeUInt32BE(message.length, 1);
      stream.end(Buffer.concat([frame, message]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: async () => {
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

const grpc = (target: string) =>
  pollingCheckOf({ GRPC: target, Interval: '1s' }) as GrpcCheckSpec & ReturnType<typeof pollingCheckOf>;

describe('gRPC health check', () => {
  it('encodes and decodes the health messages', () => {
    expect([...encodeHealthRequest('db')]).toEqual([0, 0, 0, 0, 4, 0x0a, 2, 0x64, 0x62]);
    expect([...encodeHealthRequest('')]).toEqual([0, 0, 0, 0, 0]);
    expect(decodeHealthResponse(Buffer.from([0, 0, 0, 0, 2, 0x08, 1]))).toBe(1);
    expect(decodeHealthResponse(Buffer.from([0, 0, 0, 0, 0]))).toBe(0);
    expect(decodeHealthResponse(Buffer.from([0, 0, 0]))).toBeUndefined();
  });

  it('is passing on SERVING, critical on NOT_SERVING, unknown services and a stopped server', async () => {
    const server = await healthServer({ '': 1, db: 2 });
    cleanups.push(server.close);
    const all = await runGrpcCheck(grpc(`127.0.0.1:${server.port}`), probeCtx());
    expect(all).toEqual({ status: 'passing', output: `gRPC check 127.0.0.1:${server.port}: SERVING` });
    const db = await runGrpcCheck(grpc(`127.0.0.1:${server.port}/db`), probeCtx());
    expect(db.status).toBe('critical');
    expect(db.output).toContain('NOT_SERVING');
    const unknown = await runGrpcCheck(grpc(`127.0.0.1:${server.port}/other`), probeCtx());
    expect(unknown.status).toBe('critical');
    expect(unknown.output).toContain('unknown service');
    await server.close();
    const down = await runGrpcCheck(grpc(`127.0.0.1:${server.port}`), probeCtx());
    expect(down.status).toBe('critical');
  });
});
