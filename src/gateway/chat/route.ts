/** POST /v1/chat/completions */
import type { FastifyInstance } from "fastify";
import type { GatewayDeps } from "../types.js";
import { parseBody } from "../shared/validation.js";
import { respondGeneration } from "../shared/respond-generation.js";
import { chatRequestSchema } from "./schema.js";
import { startChat } from "./service.js";

export function registerChatRoute(app: FastifyInstance, deps: GatewayDeps): void {
  app.post(
    "/v1/chat/completions",
    { config: { permission: "inference", generation: true } },
    async (request, reply) => {
      const body = parseBody(chatRequestSchema, request.body);
      request.ctx.record.model = body.model;
      request.ctx.record.stream = body.stream ?? false;
      const { started, options, renderer } = await startChat(
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
