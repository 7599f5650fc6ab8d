/** GET /v1/models and GET /v1/models/:model: names only, never paths. */
import type { FastifyInstance } from "fastify";
import { BulwarkError } from "../../errors/index.js";
import type { CatalogEntry, GatewayDeps } from "../types.js";

function modelObject(entry: CatalogEntry) {
  const info = entry.model.info();
  return {
    id: entry.model.name,
    object: "model",
    created: entry.model.created,
    owned_by: "bulwark",
    root: entry.model.name,
    parent: null,
    max_model_len: info?.contextSize ?? null,
    ready: entry.model.isReady(),
    ...(entry.description ? { description: entry.description } : {}),
  };
}

export function registerModelsRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  app.get("/v1/models", async () => ({
    object: "list",
    data: deps.models.list().map(modelObject),
  }));
  app.get<{ Params: { model: string } }>("/v1/models/:model", async (request) => {
    const entry = deps.models.get(request.params.model);
    if (!entry) {
      throw new BulwarkError(
        "model_not_found",
        `The model '${request.params.model}' does not exist.`,
        {
          param: "model",
        },
      );
    }
    return modelObject(entry);
  });
}
