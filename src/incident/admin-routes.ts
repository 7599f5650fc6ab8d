/** POST /admin/incident/lockdown and /release, GET /admin/incident: admin only. */
import type { FastifyInstance } from "fastify";
import { BulwarkError } from "../errors/index.js";
import type { IncidentService } from "./incident-service.js";

function options(body: unknown): { keepAdmin: boolean; reason: string } {
  const b = (body ?? {}) as Record<string, unknown>;
  if (typeof b !== "object" || Array.isArray(b)) {
    throw new BulwarkError("invalid_request", "The body must be a JSON object.");
  }
  const extra = Object.keys(b).find((k) => k !== "keepAdmin" && k !== "reason");
  if (extra) throw new BulwarkError("invalid_request", `Unknown field ${extra}.`, { param: extra });
  if (b.keepAdmin !== undefined && typeof b.keepAdmin !== "boolean") {
    throw new BulwarkError("invalid_request", "keepAdmin must be a boolean.", {
      param: "keepAdmin",
    });
  }
  if (b.reason !== undefined && (typeof b.reason !== "string" || b.reason.length > 500)) {
    throw new BulwarkError(
      "invalid_request",
      "reason must be a string of 500 characters at most.",
      {
        param: "reason",
      },
    );
  }
  return { keepAdmin: b.keepAdmin !== false, reason: (b.reason as string | undefined) ?? "" };
}

/** Lockdown from the admin API keeps admin keys by default: the caller must be able to release. */
export function incidentRoutes(service: IncidentService) {
  return (app: FastifyInstance): void => {
    app.get("/admin/incident", async () => ({ lockdown: service.status() ?? null }));
    app.post("/admin/incident/lockdown", async (request) => {
      const o = options(request.body);
      return { lockdown: service.lockdown(request.ctx.key?.id ?? "unknown", o) };
    });
    app.post("/admin/incident/release", async (request) => ({
      released: service.release(request.ctx.key?.id ?? "unknown"),
    }));
  };
}
