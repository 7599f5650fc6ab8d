/** POST /v1/completions */
import type { FastifyInstance } from "fastify";
import type { GatewayDeps } from "../types.js";
import { parseBody } from "../shared/validation.js";
import { respondGeneration } from "../shared/respond-generation.js";
import { completionRequestSchema } from "./schema.js";
import { startCompletion } from "./service.js";

export function registerCompletionsRoute(app: FastifyInstance, deps: GatewayDeps): void {
  app.post(
    "/v1/completions",
    { config: { permission: "inference", generation: true } },
    async (request, reply) => {
      const body = parseBody(completionRequestSchema, request.body);
      request.ctx.record.model = body.model;
      request.ctx.record.stream = body.stream ?? false;
      const { started, options, renderer } = await startCompletion(
        deps,
        body,
        request.id,
        request.ctx.gate,
      );
      return respondGeneration(request, reply, started, renderer, {
        stream: options.stream,
        includeUsage: options.includeUsage,
        timeoutMs: deps.config.server.requestTimeoutMs,
        observer: deps.observer,
      });
    },
  );
}
