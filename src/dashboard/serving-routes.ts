/**
 * Admin routes that unload and reload a served model, for operators and admins (permission
 * models.manage), audited like every admin action. Unloading stops an idle model's workers to
 * free memory (its next request, or a reload, loads it again); a model with requests running
 * or queued is not unloaded (409 model_busy).
 */
import type { FastifyInstance } from "fastify";
import { BulwarkError } from "../errors/index.js";

/** What the routes need of a served model (the supervisor's ModelHost). */
export interface ManagedModel {
  readonly name: string;
  isUnloaded(): boolean;
  unloadModel(): string[] | undefined;
  load(): void;
}

export function registerServingAdminRoutes(
  app: FastifyInstance,
  hosts: () => readonly ManagedModel[],
): void {
  const find = (name: string) => {
    const host = hosts().find((h) => h.name === name);
    if (!host) throw new BulwarkError("model_not_found", `No served model named "${name}".`);
    return host;
  };
  app.post<{ Params: { model: string } }>(
    "/admin/serving/:model/unload",
    { config: { permission: "models.manage", audit: "model.unloaded" } },
    async (request) => {
      const host = find(request.params.model);
      if (host.isUnloaded()) return { model: host.name, unloaded: true, replicas: [] };
      const stopped = host.unloadModel();
      if (!stopped) throw new BulwarkError("model_busy");
      return { model: host.name, unloaded: true, replicas: stopped };
    },
  );
  app.post<{ Params: { model: string } }>(
    "/admin/serving/:model/reload",
    { config: { permission: "models.manage", audit: "model.reloaded" } },
    async (request) => {
      const host = find(request.params.model);
      host.load();
      return { model: host.name, loading: true };
    },
  );
}
