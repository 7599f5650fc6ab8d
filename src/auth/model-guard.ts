/**
 * A key's model list: refuses a request for a model outside it, once the body is parsed, with
 * the 404 an unknown model gets, and tells the listings what the key may see.
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
      // Answered exactly as a model that is not served: a key must not learn what else is.
      if (!keyAllowsModel(request, body.model)) {
        throw new BulwarkError("model_not_found", `The model '${body.model}' does not exist.`, {
          param: "model",
        });
      }
    }
  };
}

export function installModelGuard(app: FastifyInstance, enabled: boolean): void {
  if (enabled) app.addHook("preHandler", modelGuardHook());
}
