/**
 * The batches on the admin listener, for admins only (its default permission): every key's
 * batches (`GET /admin/batches`, paged as /v1/batches, each with its owner) and a cancel of any
 * (`POST /admin/batches/{id}/cancel`), appended to the audit log with the calling key.
 */
import type { FastifyInstance } from "fastify";
import type { BatchService } from "./batch-service.js";
import type { AuditAppend } from "../admin/index.js";
import { pageQuery } from "./paging.js";

export interface BatchAdminDeps {
  batches: BatchService;
  audit: AuditAppend;
}

export function registerBatchAdminRoutes(app: FastifyInstance, deps: BatchAdminDeps): void {
  app.get("/admin/batches", async (request) =>
    deps.batches.list(undefined, pageQuery(request.query as Record<string, unknown>)),
  );

  app.post<{ Params: { id: string } }>("/admin/batches/:id/cancel", async (request) => {
    const before = deps.batches.row(undefined, request.params.id);
    const batch = deps.batches.cancel(undefined, request.params.id);
    deps.audit(request.ctx.key?.id ?? "unknown", "batch.cancelled", batch.id, {
      owner: before.owner,
      status: before.status,
    });
    return batch;
  });
}
