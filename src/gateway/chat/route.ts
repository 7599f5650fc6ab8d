/** POST /v1/chat/completions */
import type { FastifyInstance } from "fastify";
import type { GatewayDeps } from "../types.js";
import { registerGenerationRoute } from "../shared/generation-route.js";
import { chatRequestSchema } from "./schema.js";
import { chatRenderer, startChat } from "./service.js";

export function registerChatRoute(app: FastifyInstance, deps: GatewayDeps): void {
  registerGenerationRoute(app, deps, "/v1/chat/completions", chatRequestSchema, startChat, {
    cache: "chat",
    renderer: chatRenderer,
  });
}
