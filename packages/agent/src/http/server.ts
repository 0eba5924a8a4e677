import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from '../log.ts';

/** Request bodies above this are refused with 413 before they are buffered. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The local HTTP server with the error contract every route shares: JSON errors whose message
 * names the problem, 404 for unknown routes, 413 for oversized bodies, never a crash.
 */
export function createHttpServer(log: Logger): FastifyInstance {
  const app = Fastify({
    loggerInstance: log.child({ plane: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_BODY_BYTES,
    // Keep-alive sockets would hold shutdown open; clients of a local agent reconnect cheaply.
    forceCloseConnections: true,
    return503OnClosing: true,
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: `no route for ${req.method} ${req.url.split('?')[0]}` });
  });
  app.setErrorHandler((err: { statusCode?: number; message: string; code?: string }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) app.log.error({ err }, 'request failed');
    // Fastify's own 413 names no limit; a route's 413 (a KV value over its bound) keeps its message.
    const message =
      err.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? `request body is larger than the limit of ${MAX_BODY_BYTES} bytes`
        : err.message;
    reply.code(status).send({ error: message });
  });
  return app;
}
