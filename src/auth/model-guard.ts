/** Refuses a request for a model outside the key's model list, once the body is parsed. */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { BulwarkError } from "../errors/index.js";

export function modelGuardHook() {
  return async function modelGuard(request: FastifyRequest): Promise<void> {
    const key = request.apiKey;
    if (!key || key.models.length === 0) return;
    const body = request.body as { model?: unknown } | undefined;
    if (body && typeof body === "object" && typeof body.model === "string") {
      if (!key.models.includes(body.model)) {
        throw new BulwarkError(
          "model_not_allowed",
          `This key may not use the model "${body.model}".`,
          {
            param: "model",
          },
        );
      }
    }
  };
}

export function installModelGuard(app: FastifyInstance, enabled: boolean): void {
  if (enabled) app.addHook("preHandler", modelGuardHook());
}
