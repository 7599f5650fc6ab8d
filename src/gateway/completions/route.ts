/** POST /v1/completions */
import type { FastifyInstance } from "fastify";
import type { GatewayDeps } from "../types.js";
import { registerGenerationRoute } from "../shared/generation-route.js";
import { completionRequestSchema } from "./schema.js";
import { startCompletion } from "./service.js";
import { completionRenderer } from "./render.js";

export function registerCompletionsRoute(app: FastifyInstance, deps: GatewayDeps): void {
  registerGenerationRoute(app, deps, "/v1/completions", completionRequestSchema, startCompletion, {
    cache: "completions",
    renderer: (requestId, model) => completionRenderer({ requestId, model }),
  });
}
