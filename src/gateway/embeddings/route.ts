/** POST /v1/embeddings */
import { recordedModel } from "../shared/models.js";
import type { FastifyInstance } from "fastify";
import type { GatewayDeps } from "../types.js";
import { parseBody } from "../shared/validation.js";
import { chargeHit, lookup, planCache, setCacheHeader } from "../shared/cache-lookup.js";
import { embeddingRequestSchema } from "./schema.js";
import { computeEmbeddings, embeddingsResponse, type ComputedEmbeddings } from "./service.js";

export function registerEmbeddingsRoute(app: FastifyInstance, deps: GatewayDeps): void {
  app.post(
    "/v1/embeddings",
    { config: { permission: "inference", generation: true } },
    async (request, reply) => {
      const body = parseBody(embeddingRequestSchema, request.body);
      request.ctx.record.model = recordedModel(deps, body.model);
      const plan = planCache(deps, request, "embeddings", body);
      if (deps.cache) setCacheHeader(request, reply, plan ? "miss" : "bypass");
      const found = plan ? await lookup(plan) : undefined;
      let computed: ComputedEmbeddings;
      if (found && "outcome" in found && found.value.kind === "embeddings") {
        setCacheHeader(request, reply, found.outcome);
        await chargeHit(deps, request, found.value.promptTokens);
        computed = found.value;
      } else {
        const finish = found && !found.value ? found.finish : undefined;
        try {
          computed = await computeEmbeddings(deps, body, request.ctx.gate.reserveTokens);
          finish?.({ kind: "embeddings", ...computed });
        } finally {
          finish?.(undefined);
        }
      }
      request.ctx.record.promptTokens = computed.promptTokens;
      return embeddingsResponse(body, computed);
    },
  );
}
