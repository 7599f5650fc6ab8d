/** POST /v1/completions */
import type { FastifyInstance } from "fastify";
import type { GatewayDeps } from "../types.js";
import { registerGenerationRoute } from "../shared/generation-route.js";
import { completionRequestSchema } from "./schema.js";
import { completionRenderer, startCompletion } from "./service.js";

export function registerCompletionsRoute(app: FastifyInstance, deps: GatewayDeps): void {
  registerGenerationRoute(app, deps, "/v1/completions", completionRequestSchema, startCompletion, {
    cache: "completions",
    renderer: completionRenderer,
  });
}
