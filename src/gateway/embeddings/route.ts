/** POST /v1/embeddings */
import type { FastifyInstance } from "fastify";
import type { GatewayDeps } from "../types.js";
import { parseBody } from "../shared/validation.js";
import { embeddingRequestSchema } from "./schema.js";
import { createEmbeddings } from "./service.js";

export function registerEmbeddingsRoute(app: FastifyInstance, deps: GatewayDeps): void {
  app.post(
    "/v1/embeddings",
    { config: { permission: "inference", generation: true } },
    async (request) => {
      const body = parseBody(embeddingRequestSchema, request.body);
      request.ctx.record.model = body.model;
      const response = await createEmbeddings(deps, body, request.ctx.gate.reserveTokens);
      request.ctx.record.promptTokens = response.usage.prompt_tokens;
      return response;
    },
  );
}
