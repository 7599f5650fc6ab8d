/**
 * The route both generation endpoints (chat and completions) share: the body is validated, the
 * generation started by the endpoint's service, and its output sent as JSON or server-sent events.
 */
import type { FastifyInstance } from "fastify";
import type { z } from "zod";
import type { GatewayDeps, GenerationGate } from "../types.js";
import type { StartedGeneration } from "./generation-service.js";
import { respondGeneration, type ChunkRenderer } from "./respond-generation.js";
import type { GenerationOptions } from "./sampling-params.js";
import { parseBody } from "./validation.js";

/** What an endpoint's service returns for a started generation. */
interface Started {
  started: StartedGeneration;
  options: GenerationOptions;
  renderer: ChunkRenderer;
}

/** The fields of a generation request the route itself reads. */
interface GenerationBody {
  model: string;
  stream?: boolean | null;
}

export function registerGenerationRoute<S extends z.ZodType<GenerationBody>>(
  app: FastifyInstance,
  deps: GatewayDeps,
  path: string,
  schema: S,
  start: (
    deps: GatewayDeps,
    body: z.output<S>,
    requestId: string,
    gate: GenerationGate | null,
  ) => Promise<Started>,
): void {
  app.post(
    path,
    { config: { permission: "inference", generation: true } },
    async (request, reply) => {
      const body = parseBody(schema, request.body);
      request.ctx.record.model = body.model;
      request.ctx.record.stream = body.stream ?? false;
      const { started, options, renderer } = await start(deps, body, request.id, request.ctx.gate);
      return respondGeneration(request, reply, started, renderer, {
        stream: options.stream,
        includeUsage: options.includeUsage,
        timeoutMs: deps.config.server.requestTimeoutMs,
        observer: deps.observer,
      });
    },
  );
}
