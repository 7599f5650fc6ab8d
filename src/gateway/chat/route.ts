/** POST /v1/chat/completions */
import type { FastifyInstance } from "fastify";
import type { GatewayDeps } from "../types.js";
import { registerGenerationRoute } from "../shared/generation-route.js";
import { chatRequestSchema } from "./schema.js";
import { startChat } from "./service.js";
import { chatRenderer } from "./render.js";

export function registerChatRoute(app: FastifyInstance, deps: GatewayDeps): void {
  registerGenerationRoute(app, deps, "/v1/chat/completions", chatRequestSchema, startChat, {
    cache: "chat",
    // A stored answer is plain text: requests with tools or logprobs bypass the cache.
    renderer: (requestId, model) =>
      chatRenderer({ requestId, model, logprobs: false, parallelToolCalls: true }),
  });
}
