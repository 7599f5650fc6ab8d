/**
 * The Batch API: POST /v1/batches, GET /v1/batches/{id}, GET /v1/batches (cursor paging),
 * POST /v1/batches/{id}/cancel. The service (src/batch/) does the work; another key's batch is
 * a 404.
 */
import type { FastifyInstance } from "fastify";
import { pageQuery } from "../../batch/index.js";
import type { GatewayBatch } from "../types.js";
import { callerOf } from "../files/route.js";

const policy = { config: { permission: "inference" as const } };

export function registerBatchesRoutes(app: FastifyInstance, batch: GatewayBatch): void {
  const { batches } = batch;
  app.post("/v1/batches", policy, async (request) =>
    batches.create(callerOf(request), request.body, request.ctx.clientIp ?? request.ip ?? null),
  );
  app.get("/v1/batches", policy, async (request) =>
    batches.list(callerOf(request), pageQuery(request.query as Record<string, unknown>)),
  );
  app.get<{ Params: { id: string } }>("/v1/batches/:id", policy, async (request) =>
    batches.get(callerOf(request), request.params.id),
  );
  app.post<{ Params: { id: string } }>("/v1/batches/:id/cancel", policy, async (request) =>
    batches.cancel(callerOf(request), request.params.id),
  );
}
