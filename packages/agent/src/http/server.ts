import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, LogController } from 'fastify';
import type { Logger } from '../log.ts';
import { guardBrowsers } from './browser-guard.ts';
import { drainRequestBody } from './drain-request.ts';

/** Request bodies above this are refused with 413 before they are buffered. */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface HttpServerOptions {
  /** Host names, beside IP literals and `localhost`, that requests may address the agent by. */
  readonly allowedHosts?: readonly string[];
}

/**
 * The local HTTP server with the error contract every route shares: JSON errors whose message
 * names the problem, 404 for unknown routes, 413 for oversized bodies, never a crash; and no
 * service to web pages (browser-guard.ts).
 */
export function createHttpServer(log: Logger, opts: HttpServerOptions = {}): FastifyInstance {
  const app = Fastify({
    loggerInstance: log.child({ plane: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_BODY_BYTES,
    // Keep-alive sockets would hold shutdown open; clients of a local agent reconnect cheaply.
    forceCloseConnections: true,
    return503OnClosing: true,
    // Errors fastify answers before any route (a URL it cannot decode) get our shape too.
    frameworkErrors: (err, _req, reply) => {
      (reply as FastifyReply).code(err.statusCode ?? 400).send({ error: err.message });
    },
    clientErrorHandler: answerClientError,
    // Routes validate with zod, not JSON schemas: without these, fastify loads ajv and
    // fast-json-stringify at start-up (~40 modules) for nothing. A route given a schema fails loudly.
    schemaController: { compilersFactory: { buildValidator: noSchemas, buildSerializer: noSchemas } },
    // Fastify registers a HEAD twin of every GET route, a whole second route each: half the route
    // set, ~40 ms of an agent's start-up CPU. answerHeadAsGet serves HEAD without them.
    exposeHeadRoutes: false,
  });
  answerHeadAsGet(app);
  app.addHook('onRequest', guardBrowsers(opts.allowedHosts ?? []));
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: `no route for ${req.method} ${req.url.split('?')[0]}` });
  });
  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) app.log.error({ err }, 'request failed');
    let message = err.message;
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      // Fastify's own 413 names no limit; a route's 413 (a KV value over its bound) keeps its message.
      message = `request body is larger than the limit of ${MAX_BODY_BYTES} bytes`;
      // fastify asks to close the connection; the client, still sending, would see EPIPE instead
      // of this answer. Reading the rest (bounded) lets it finish and read the 413.
      reply.removeHeader('connection');
      drainRequestBody(req.raw);
    } else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      message = `Content-Type "${req.headers['content-type'] ?? ''}" is not supported: send application/json`;
    }
    reply.code(status).send({ error: message });
  });
  return app;
}

/**
 * HEAD is routed as GET, so it gets its GET route's status, headers and hooks (the catalog-sync
 * gate, the browser guard treat both as safe reads). Node decided when it parsed the request that
 * a HEAD response has no body (ServerResponse, before 'request' is emitted), so the GET's body is
 * never sent. Requests made with inject() do not pass through the server and get no HEAD.
 */
function answerHeadAsGet(app: FastifyInstance): void {
  app.server.prependListener('request', (req: IncomingMessage) => {
    if (req.method === 'HEAD') req.method = 'GET';
  });
}

function noSchemas(): never {
  throw new Error('the agent API validates with zod: fastify route schemas are not supported');
}

/** Node's answer to bytes that are not HTTP, in the API's error shape (as fastify's default otherwise). */
function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, why] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'the request took too long to arrive']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'the request headers are too large']
        : [400, `malformed HTTP request (${err.code ?? err.message})`];
  const body = JSON.stringify({ error: why });
  // getBuiltinModule, not `import from 'node:http'`: that ESM import loads Node's undici (see http-check.ts).
  socket.end(
    `HTTP/1.1 ${status} ${process.getBuiltinModule('node:http').STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
