/**
 * Writes each request's access log line and usage row when its response ends (or the client
 * goes away). Installed right after the request id, so refused requests are logged too.
 */
import type { ServerResponse } from "node:http";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { requestLine } from "../http/index.js";
import type { AccessLog } from "./access-log.js";
import type { UsageStore } from "./usage-store.js";

export interface AccessLogHookOptions {
  log?: AccessLog;
  usage?: UsageStore;
  now?: () => number;
}

export function accessLogHook(options: AccessLogHookOptions) {
  const now = options.now ?? Date.now;
  return async function accessLog(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const startedAt = now();
    // The response's close fires once the answer is out or abandoned, streamed or not.
    reply.raw.once("close", () => writeLine(request, reply.raw, startedAt, options, now));
  };
}

function writeLine(
  request: FastifyRequest,
  res: ServerResponse,
  startedAt: number,
  options: AccessLogHookOptions,
  now: () => number,
): void {
  const r = request.ctx.record;
  const line = requestLine(request, res);
  const errored = line.status >= 400 || r.errorCode !== undefined;
  try {
    options.log?.write({
      ...line,
      time: new Date(startedAt).toISOString(),
      keyId: request.ctx.key?.id,
      ip: request.ctx.clientIp,
      latencyMs: now() - startedAt,
    });
    const keyId = request.ctx.key?.id;
    if (options.usage && keyId && r.model) {
      options.usage.record({
        keyId,
        model: r.model,
        at: startedAt,
        error: errored,
        promptTokens: r.promptTokens ?? 0,
        completionTokens: r.completionTokens ?? 0,
        cached: r.cache === "hit" || r.cache === "semantic-hit",
        batch: request.ctx.batch !== undefined,
      });
    }
  } catch (err) {
    request.log.error({ err: (err as Error).message }, "cannot write the access log");
  }
}

export function installAccessLog(
  app: FastifyInstance,
  options: AccessLogHookOptions | undefined,
): void {
  if (options) app.addHook("onRequest", accessLogHook(options));
}
