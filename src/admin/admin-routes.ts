/**
 * The admin API's routes: keys, bans, usage and the audit log. Each route names the permission
 * it needs; the auth hook of the admin listener checks it.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { BulwarkError } from "../errors/index.js";
import { isRole, toNewKey, type NewKey } from "../auth/index.js";
import { parseUsageQuery, summarize, type AuditLog, type UsageReader } from "../audit/index.js";
import type { KeyService, Actor } from "./key-service.js";
import type { BanService } from "./ban-service.js";

export interface AdminContext {
  keys: KeyService;
  bans: BanService;
  /** This home's usage, or the fleet's with state.backend redis. */
  usage: UsageReader;
  audit: AuditLog;
  keyDefaults: Partial<NewKey>;
  now: () => number;
}

/** A module of admin routes; later subsystems add their own through startServer's options. */
export type AdminRoutes = (app: FastifyInstance) => void;

function actorOf(request: FastifyRequest): Actor {
  const key = request.ctx.key;
  if (!key) throw new BulwarkError("missing_api_key");
  return { id: key.id, role: key.role };
}

function body(request: { body: unknown }): Record<string, unknown> {
  const b = request.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== "object" || Array.isArray(b)) {
    throw new BulwarkError("invalid_request", "The body must be a JSON object.");
  }
  return b as Record<string, unknown>;
}

export function keyRoutes(ctx: AdminContext): AdminRoutes {
  return (app) => {
    app.get("/admin/keys", { config: { permission: "keys.read" } }, async () => ({
      object: "list",
      data: ctx.keys.keys.list(),
    }));
    app.post("/admin/keys", { config: { permission: "keys.write" } }, async (request, reply) => {
      const input = toNewKey(body(request), ctx.keyDefaults, ctx.now());
      const made = ctx.keys.create(actorOf(request), input);
      void reply.status(201);
      return { key: made.key, ...made.record };
    });
    app.post<{ Params: { id: string } }>(
      "/admin/keys/:id/revoke",
      { config: { permission: "keys.write" } },
      async (request) => ctx.keys.revoke(actorOf(request), request.params.id),
    );
    app.post<{ Params: { id: string } }>(
      "/admin/keys/:id/rotate",
      { config: { permission: "keys.write" } },
      async (request) => {
        const rotated = ctx.keys.rotate(actorOf(request), request.params.id);
        return { key: rotated.key, ...rotated.record };
      },
    );
    app.patch<{ Params: { id: string } }>(
      "/admin/keys/:id",
      { config: { permission: "keys.admin" } },
      async (request) => {
        const fields = body(request);
        // Only the role changes here; another field is refused, not silently dropped.
        const extra = Object.keys(fields).find((f) => f !== "role");
        if (extra !== undefined) {
          throw new BulwarkError("invalid_request", `${extra} cannot be changed here.`, {
            param: extra,
          });
        }
        const role = fields.role;
        if (typeof role !== "string" || !isRole(role)) {
          throw new BulwarkError(
            "invalid_request",
            "role must be admin, operator, user or auditor.",
            {
              param: "role",
            },
          );
        }
        return ctx.keys.setRole(actorOf(request), request.params.id, role);
      },
    );
  };
}

export function banRoutes(ctx: AdminContext): AdminRoutes {
  return (app) => {
    app.get("/admin/bans", { config: { permission: "bans.read" } }, async () => ({
      object: "list",
      data: ctx.bans.list(),
    }));
    app.post("/admin/bans", { config: { permission: "bans.write" } }, async (request, reply) => {
      const b = body(request);
      if (typeof b.ip !== "string") {
        throw new BulwarkError("missing_parameter", "ip is required.", { param: "ip" });
      }
      const duration = b.durationMs ?? null;
      if (
        duration !== null &&
        (typeof duration !== "number" || !Number.isInteger(duration) || duration <= 0)
      ) {
        throw new BulwarkError(
          "invalid_request",
          "durationMs must be a positive integer or null.",
          {
            param: "durationMs",
          },
        );
      }
      const reason = typeof b.reason === "string" ? b.reason.slice(0, 200) : "manual";
      void reply.status(201);
      return ctx.bans.add(actorOf(request), b.ip, duration, reason);
    });
    app.delete<{ Params: { ip: string } }>(
      "/admin/bans/:ip",
      { config: { permission: "bans.write" } },
      async (request) => {
        ctx.bans.lift(actorOf(request), request.params.ip);
        return { ip: request.params.ip, lifted: true };
      },
    );
  };
}

export function auditRoutes(ctx: AdminContext): AdminRoutes {
  return (app) => {
    app.get("/admin/usage", { config: { permission: "usage.all" } }, async (request) => {
      const q = parseUsageQuery(request.query as Record<string, unknown>);
      const { rows, scope } = await ctx.usage.query(q);
      return summarize(rows, scope);
    });
    app.get("/admin/audit", { config: { permission: "audit.read" } }, async () => ({
      object: "list",
      data: ctx.audit.entries(),
    }));
    app.get("/admin/audit/verify", { config: { permission: "audit.read" } }, async () =>
      ctx.audit.verify(),
    );
  };
}
