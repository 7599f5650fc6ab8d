/**
 * The backups' admin HTTP API, on the admin listener: `GET /admin/backups` lists the complete
 * backups of backup.dir; `POST /admin/backups` takes one now (201 when it is complete) and
 * appends `backup.created` to the audit log with the calling key. Both are for admins only
 * (the admin listener's default permission).
 */
import type { FastifyInstance } from "fastify";
import { BulwarkError } from "../errors/index.js";
import type { AuditAppend } from "../admin/index.js";
import type { BackupService } from "./service.js";

export interface BackupAdminDeps {
  backups: BackupService;
  audit: AuditAppend;
}

export function registerBackupAdminRoutes(app: FastifyInstance, deps: BackupAdminDeps): void {
  app.get("/admin/backups", async () => {
    const listing = deps.backups.list();
    return {
      object: "list",
      dir: deps.backups.dir,
      data: listing.backups,
      incomplete: listing.incomplete,
    };
  });

  app.post("/admin/backups", async (request, reply) => {
    const body = request.body;
    if (
      body !== undefined &&
      body !== null &&
      (typeof body !== "object" || Array.isArray(body) || Object.keys(body).length > 0)
    ) {
      throw new BulwarkError(
        "invalid_request",
        "POST /admin/backups takes no parameters; the backup settings are in the config (backup.*).",
      );
    }
    const result = await deps.backups.create("admin");
    const m = result.manifest;
    deps.audit(request.ctx.key?.id ?? "unknown", "backup.created", result.id, {
      trigger: "admin",
      bytesWritten: m.bytesWritten,
    });
    void reply.status(201);
    return {
      id: result.id,
      createdAt: m.createdAt,
      durationMs: result.durationMs,
      encrypted: m.encryption !== null,
      models: m.models.length,
      files: m.files.length,
      auditEntries: m.auditHead?.seq ?? 0,
      bytesWritten: m.bytesWritten,
      bytesTotal: m.bytesTotal,
    };
  });
}
