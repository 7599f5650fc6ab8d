/**
 * The registry's admin HTTP API: list, import from a path on the server, promote, rollback,
 * verify and delete. Mounted on the admin listener (127.0.0.1:8081 by default), never on the
 * public API. Handlers only parse and call the registry; errors are catalog errors.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { parseInput } from "../../errors/index.js";
import type { Logger } from "../../observability/index.js";
import type { Registry } from "../registry.js";
import type { RegistryServing } from "../serving/index.js";
import { formatRef } from "../names.js";

export interface RegistryAdminDeps {
  registry: Registry;
  /** The running server's registry models, to hot-swap at once on promote and rollback. */
  serving?: RegistryServing;
  logger: Logger;
}

const importBody = z.strictObject({
  path: z.string().min(1),
  name: z.string().min(1),
  version: z.string().min(1).optional(),
  promote: z.boolean().optional(),
});
const promoteBody = z.strictObject({ version: z.string().min(1) });
const verifyBody = z.strictObject({ ref: z.string().min(1).optional() }).optional();

/** Registers /admin/models routes on `app`. */
export function registerRegistryAdminRoutes(app: FastifyInstance, deps: RegistryAdminDeps): void {
  const { registry, serving } = deps;
  const log = deps.logger.child({ component: "registry-admin" });
  const served = () => serving?.served() ?? [];

  app.get("/admin/models", async () => ({
    object: "list",
    data: registry.list(),
    serving: served().map((s) => ({ model: s.servedName, name: s.name, version: s.version })),
  }));

  app.post(
    "/admin/models/import",
    { config: { audit: "model.imported" } },
    async (request, reply) => {
      const body = parseInput(importBody, request.body);
      const manifest = await registry.import(body.path, {
        name: body.name,
        version: body.version,
        promote: body.promote,
      });
      log.info({ model: formatRef(manifest.name, manifest.version) }, "model imported");
      if (body.promote) void serving?.poll();
      return reply.code(201).send(manifest);
    },
  );

  app.post<{ Params: { name: string } }>(
    "/admin/models/:name/promote",
    { config: { audit: "model.promoted" } },
    async (request) => {
      const body = parseInput(promoteBody, request.body);
      // A served model that follows the name must fit the new version next to the old one:
      // refused (model_load_refused_memory, 503), `latest` stays where it is.
      await serving?.checkPromotion(request.params.name, body.version);
      const model = registry.promote(formatRef(request.params.name, body.version));
      log.info({ model: model.name, latest: model.version }, "promoted");
      void serving?.poll();
      return { name: model.name, latest: model.version };
    },
  );

  app.post<{ Params: { name: string } }>(
    "/admin/models/:name/rollback",
    { config: { audit: "model.rolled_back" } },
    async (request) => {
      // Like a promotion: the version rolled back to must fit next to the one serving.
      const target = registry.rollbackTarget(request.params.name);
      if (target) await serving?.checkPromotion(request.params.name, target);
      const model = registry.rollback(request.params.name);
      log.info({ model: model.name, latest: model.version }, "rolled back");
      void serving?.poll();
      return { name: model.name, latest: model.version };
    },
  );

  app.post("/admin/models/verify", async (request) => {
    const body = parseInput(verifyBody, request.body ?? undefined);
    const results = await registry.verify(body?.ref);
    return { ok: results.every((r) => r.ok), results };
  });

  app.delete<{ Params: { name: string; version: string }; Querystring: { force?: string } }>(
    "/admin/models/:name/:version",
    { config: { audit: "model.deleted" } },
    async (request) => {
      const ref = formatRef(request.params.name, request.params.version);
      const force = request.query.force === "true" || request.query.force === "1";
      const key = new Set(served().map((s) => formatRef(s.name, s.version)));
      registry.remove(ref, { force, serving: key });
      log.info({ model: ref, force }, "model removed");
      return { deleted: ref };
    },
  );
}
