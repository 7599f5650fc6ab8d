/**
 * GET /v1/models and GET /v1/models/:model: names only, never paths, and only the models the
 * caller's key may use (another model answers 404, as if it did not exist).
 */
import type { FastifyInstance } from "fastify";
import { keyAllowsModel } from "../../auth/index.js";
import { BulwarkError } from "../../errors/index.js";
import type { CatalogEntry, GatewayDeps } from "../types.js";
import { modelCapabilities } from "./capabilities.js";

function modelObject(entry: CatalogEntry, limits: GatewayDeps["config"]["limits"]) {
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
    ...modelCapabilities(info, limits),
  };
}

export function registerModelsRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const config = { permission: "models.read" } as const;
  app.get("/v1/models", { config }, async (request) => ({
    object: "list",
    data: deps.models
      .list()
      .filter((e) => keyAllowsModel(request, e.model.name))
      .map((e) => modelObject(e, deps.config.limits)),
  }));
  app.get<{ Params: { model: string } }>("/v1/models/:model", { config }, async (request) => {
    const entry = deps.models.get(request.params.model);
    if (!entry || !keyAllowsModel(request, entry.model.name)) {
      throw new BulwarkError(
        "model_not_found",
        `The model '${request.params.model}' does not exist.`,
        {
          param: "model",
        },
      );
    }
    return modelObject(entry, deps.config.limits);
  });
}
