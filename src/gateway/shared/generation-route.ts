/**
 * The route both generation endpoints (chat and completions) share: the body is validated, the
 * response cache consulted, the generation started by the endpoint's service, and its output
 * (or the stored answer) sent as JSON or server-sent events.
 */
import { recordedModel } from "./models.js";
import type { FastifyInstance } from "fastify";
import type { z } from "zod";
import type { CacheEndpoint } from "../../cache/index.js";
import type { GatewayDeps, GenerationGate } from "../types.js";
import type { StartedGeneration } from "./generation-service.js";
import { respondGeneration, type ChunkRenderer } from "./respond-generation.js";
import type { GenerationOptions } from "./sampling-params.js";
import { parseBody } from "./validation.js";
import { chargeHit, lookup, planCache, setCacheHeader } from "./cache-lookup.js";
import { recordGeneration, replayGeneration } from "./cached-generation.js";
import { planSemantic } from "./semantic-lookup.js";

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
  stream_options?: { include_usage?: boolean | null } | null;
}

/** What the route needs of an endpoint beyond its schema and service. */
export interface GenerationEndpoint {
  /** The endpoint's name in cache keys. */
  cache: CacheEndpoint;
  /** The endpoint's response objects for a request, to replay a stored answer. */
  renderer(requestId: string, model: string): ChunkRenderer;
}

/**
 * Whether a stored answer can stand for this request: one choice of plain text. Several choices
 * (n), log-probabilities, an echoed prompt and tools the model may call need more than the
 * cache keeps, so they always run on the model.
 */
export function cacheableRequest(body: Record<string, unknown>): boolean {
  const tools = body.tools;
  const callable = Array.isArray(tools) && tools.length > 0 && body.tool_choice !== "none";
  return (
    (body.n == null || body.n === 1) &&
    (body.logprobs == null || body.logprobs === false) &&
    body.echo !== true &&
    !callable
  );
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
  endpoint: GenerationEndpoint,
): void {
  app.post(
    path,
    { config: { permission: "inference", generation: true } },
    async (request, reply) => {
      const body = parseBody(schema, request.body);
      request.ctx.record.model = recordedModel(deps, body.model);
      request.ctx.record.stream = body.stream ?? false;
      const respondOptions = {
        timeoutMs: deps.config.server.requestTimeoutMs,
        observer: deps.observer,
      };
      const plan = cacheableRequest(body as Record<string, unknown>)
        ? planCache(deps, request, endpoint.cache, body as Record<string, unknown> & GenerationBody)
        : undefined;
      if (deps.cache) setCacheHeader(request, reply, plan ? "miss" : "bypass");
      const semantic =
        plan && endpoint.cache === "chat"
          ? planSemantic(deps, request, plan, body as Record<string, unknown>)
          : undefined;
      const found = plan ? await lookup(plan, semantic) : undefined;
      if (found && "outcome" in found && found.value.kind === "generation") {
        const value = found.value;
        setCacheHeader(request, reply, found.outcome);
        await chargeHit(deps, request, value.promptTokens + value.completionTokens);
        return respondGeneration(
          request,
          reply,
          replayGeneration(value),
          endpoint.renderer(request.id, body.model),
          {
            ...respondOptions,
            stream: body.stream ?? false,
            includeUsage: body.stream_options?.include_usage ?? false,
          },
        );
      }
      const finish = found && !found.value ? found.finish : undefined;
      let begun;
      try {
        begun = await start(deps, body, request.id, request.ctx.gate);
      } catch (err) {
        finish?.(undefined);
        throw err;
      }
      const { options, renderer } = begun;
      const started = finish
        ? recordGeneration(begun.started, (value) => finish(value))
        : begun.started;
      try {
        return await respondGeneration(request, reply, started, renderer, {
          ...respondOptions,
          stream: options.stream,
          includeUsage: options.includeUsage,
        });
      } finally {
        // Identical requests waiting on this one never wait forever (a no-op once stored).
        finish?.(undefined);
      }
    },
  );
}
