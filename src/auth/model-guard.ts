/**
 * A key's model list: refuses a request for a model outside it, once the body is parsed, and
 * tells the model listing what the key may see.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { BulwarkError } from "../errors/index.js";

/** Whether the request's key may use `model`: any model without auth or with an empty list. */
export function keyAllowsModel(request: FastifyRequest, model: string): boolean {
  const key = request.ctx.key;
  return !key || key.models.length === 0 || key.models.includes(model);
}

export function modelGuardHook() {
  return async function modelGuard(request: FastifyRequest): Promise<void> {
    const body = request.body as { model?: unknown } | undefined;
    if (body && typeof body === "object" && typeof body.model === "string") {
      if (!keyAllowsModel(request, body.model)) {
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
