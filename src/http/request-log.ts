/**
 * One JSON log line per request, written when the response ends or the client goes away:
 * request id, method, path, status, model, prompt and completion tokens, time to first token
 * and duration.
 */
import type { FastifyInstance } from "fastify";
import type { Logger } from "../observability/index.js";
import { elapsedMs, requestLine } from "./request-line.js";

const CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function installRequestLog(app: FastifyInstance, logger: Logger): void {
  app.decorateRequest("record", null as never);
  app.addHook("onRequest", (request, reply, done) => {
    const clientId = request.headers["x-request-id"];
    request.record = {
      startedAt: performance.now(),
      clientRequestId:
        typeof clientId === "string" && CLIENT_ID.test(clientId) ? clientId : undefined,
    };
    void reply.header("x-request-id", request.id);
    reply.raw.once("close", () => {
      const { reqId, ...line } = requestLine(request, reply.raw);
      logger.info(
        {
          reqId,
          clientRequestId: request.record.clientRequestId,
          ...line,
          durationMs: elapsedMs(request.record.startedAt),
        },
        "request",
      );
    });
    done();
  });
}
