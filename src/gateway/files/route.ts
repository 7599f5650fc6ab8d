/**
 * The Files API: POST /v1/files (multipart, streamed to disk), GET /v1/files,
 * GET /v1/files/{id}, GET /v1/files/{id}/content, DELETE /v1/files/{id}. The multipart parser
 * is registered for these routes only: every other route still takes JSON alone.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import multipart from "@fastify/multipart";
import { BulwarkError } from "../../errors/index.js";
import { pageQuery, type UploadPart } from "../../batch/index.js";
import type { GatewayBatch } from "../types.js";

const policy = { config: { permission: "inference" as const } };

/** The caller as the batch services know it: its key id (none with auth off). */
export function callerOf(request: FastifyRequest): { owner: string } {
  return { owner: request.ctx.key?.id ?? "" };
}

export function registerFilesRoutes(app: FastifyInstance, batch: GatewayBatch): void {
  const { files, settings } = batch;
  void app.register(async (scope) => {
    await scope.register(multipart, {
      limits: {
        fileSize: settings.maxFileBytes,
        files: 1,
        fields: 4,
        fieldSize: 1024,
        parts: 6,
      },
    });
    scope.post("/v1/files", policy, async (request, reply) => {
      if (!request.isMultipart()) {
        throw new BulwarkError(
          "unsupported_media_type",
          "POST /v1/files takes multipart/form-data with the fields purpose and file.",
        );
      }
      const file = await files.upload(callerOf(request), uploadParts(request));
      void reply.status(200);
      return file;
    });
  });

  app.get("/v1/files", policy, async (request) => {
    const query = request.query as Record<string, unknown>;
    const order = query.order;
    if (order !== undefined && order !== "asc" && order !== "desc") {
      throw new BulwarkError("invalid_request", "order must be asc or desc.", { param: "order" });
    }
    const purpose = typeof query.purpose === "string" ? query.purpose : undefined;
    return files.list(callerOf(request), {
      ...pageQuery(query, 10_000),
      ...(purpose !== undefined ? { purpose } : {}),
      ...(order !== undefined ? { order } : {}),
    });
  });

  app.get<{ Params: { id: string } }>("/v1/files/:id", policy, async (request) =>
    files.get(callerOf(request), request.params.id),
  );

  app.get<{ Params: { id: string } }>("/v1/files/:id/content", policy, async (request, reply) => {
    const { stream, bytes } = files.content(callerOf(request), request.params.id);
    void reply.header("content-type", "application/jsonl").header("content-length", bytes);
    return reply.send(stream);
  });

  app.delete<{ Params: { id: string } }>("/v1/files/:id", policy, async (request) =>
    files.delete(callerOf(request), request.params.id),
  );
}

/** The multipart parts as the file service takes them (no Fastify object past the route). */
async function* uploadParts(request: FastifyRequest): AsyncGenerator<UploadPart> {
  for await (const part of request.parts()) {
    if (part.type === "file") {
      yield { kind: "file", filename: part.filename, stream: part.file };
    } else {
      yield { kind: "field", name: part.fieldname, value: String(part.value) };
    }
  }
}
