/**
 * One JSON log line per request, written when the response ends or the client goes away:
 * request id, method, path, status, model, prompt and completion tokens, time to first token
 * and duration.
 */
import type { FastifyInstance } from "fastify";
import type { Logger } from "../observability/index.js";
import { elapsedMs, requestLine } from "./request-line.js";

export function installRequestLog(app: FastifyInstance, logger: Logger): void {
  app.addHook("onRequest", (request, reply, done) => {
    void reply.header("x-request-id", request.id);
    reply.raw.once("close", () => {
      const { reqId, ...line } = requestLine(request, reply.raw);
      logger.info(
        {
          reqId,
          clientRequestId: request.ctx.record.clientRequestId,
          ...line,
          durationMs: elapsedMs(request.ctx.record.startedAt),
        },
        "request",
      );
    });
    done();
  });
}
