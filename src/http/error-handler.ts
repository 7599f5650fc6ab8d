/**
 * Sends every failure in OpenAI's error envelope, mapped by the catalog's toClientError (an
 * unexpected error becomes internal_error with a generic message; the log gets the details),
 * and answers unknown routes and methods. Below the routes, the bytes Node's HTTP parser
 * refuses and the URLs Fastify cannot route get the same envelope (connectionErrorOptions).
 */
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type {
  ConnectionError,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
} from "fastify";
import { BulwarkError, toClientError, type ErrorCode } from "../errors/index.js";
import type { Logger } from "../observability/index.js";

export function installErrorHandling(app: FastifyInstance, logger: Logger): void {
  app.setErrorHandler((err, request, reply) => {
    const error = toClientError(err);
    request.ctx.record.errorCode = error.code;
    if (error.code === "internal_error") {
      logger.error({ reqId: request.id, err }, "request failed");
    }
    void reply.status(error.status).headers(error.responseHeaders()).send(error.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.ctx.path;
    const allowed = METHODS.filter((method) => app.hasRoute({ method, url: path }));
    const error =
      allowed.length > 0
        ? new BulwarkError("method_not_allowed", `${request.method} is not allowed on ${path}.`, {
            headers: { allow: allowed.join(", ") },
          })
        : new BulwarkError("not_found", `No route ${request.method} ${path}.`);
    request.ctx.record.errorCode = error.code;
    void reply.status(error.status).headers(error.responseHeaders()).send(error.toBody());
  });
}

const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"] as const;

/** The catalog code for an error Node's HTTP parser or server raised on a connection. */
function connectionErrorCode(code: string | undefined): ErrorCode {
  if (code === "ERR_HTTP_REQUEST_TIMEOUT") return "request_timeout";
  if (code === "HPE_HEADER_OVERFLOW") return "headers_too_large";
  return "bad_http_request";
}

/**
 * Fastify options for both listeners: what Node's HTTP server refuses below the routes
 * (`clientErrorHandler`: bad bytes, bytes after `Connection: close`, header overflow, request
 * timeout) and what Fastify cannot route (`frameworkErrors`: a URL it cannot decode) answer in
 * OpenAI's envelope instead of Fastify's `{"error":"Bad Request","message":"Client Error"}`.
 */
export function connectionErrorOptions(logger: Logger) {
  return {
    clientErrorHandler: function answerClientError(err: ConnectionError, socket: Socket): void {
      // A reset connection has nobody to answer (Node's own rule, which Fastify's default keeps).
      if (err.code === "ECONNRESET" || socket.destroyed) return;
      const error = new BulwarkError(connectionErrorCode(err.code));
      logger.debug({ code: err.code, errorCode: error.code }, "connection error");
      // As Node's default handler: write only while no response has begun on this socket, so a
      // response in flight is never corrupted by a second status line.
      const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })
        ._httpMessage;
      if (socket.writable && !inFlight?.headersSent) {
        const body = JSON.stringify(error.toBody());
        socket.write(
          `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ""}\r\n` +
            `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
            `connection: close\r\n\r\n${body}`,
        );
      }
      socket.destroy(err);
    },
    frameworkErrors: function answerFrameworkError(
      err: FastifyError,
      _request: FastifyRequest,
      reply: FastifyReply,
    ): void {
      // A path segment over the router's maxParamLength (100) was a 500 before this.
      const error =
        err.code === "FST_ERR_BAD_URL"
          ? new BulwarkError("invalid_request", "The URL is not valid.")
          : err.code === "FST_ERR_MAX_PARAM_LENGTH"
            ? new BulwarkError("invalid_request", "A segment of the URL is too long.")
            : toClientError(err);
      if (error.code === "internal_error") logger.error({ err }, "request failed before routing");
      void reply.status(error.status).headers(error.responseHeaders()).send(error.toBody());
    },
  };
}
