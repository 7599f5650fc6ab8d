/**
 * One JSON log line per request, written when the response ends or the client goes away:
 * request id, method, path, status, model, prompt and completion tokens, time to first token
 * and duration.
 */
import type { FastifyInstance } from "fastify";
import type { Logger } from "../observability/index.js";

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
    const res = reply.raw;
    res.once("close", () => {
      const r = request.record;
      const durationMs = performance.now() - r.startedAt;
      logger.info(
        {
          reqId: request.id,
          clientRequestId: r.clientRequestId,
          method: request.method,
          path: request.url.split("?")[0],
          status: res.writableFinished ? res.statusCode : 499,
          model: r.model,
          stream: r.stream,
          promptTokens: r.promptTokens,
          completionTokens: r.completionTokens,
          ttftMs: r.ttftMs === undefined ? undefined : Math.round(r.ttftMs * 100) / 100,
          durationMs: Math.round(durationMs * 100) / 100,
          errorCode: r.errorCode,
          clientGone: res.writableFinished ? undefined : true,
        },
        "request",
      );
    });
    done();
  });
}
