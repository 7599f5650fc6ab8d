/**
 * The semantic cache on the gateway's side, for chat: a key that opted in (`semantic: {model,
 * threshold}` in its cache settings) may get the stored answer of an earlier question whose
 * last user message embeds close enough to this one's, asked in exactly the same context (system
 * prompt, earlier turns, every other output-affecting field, model). Never with tools, a
 * structured response format or a seed: those ask for one exact output.
 */
import type { FastifyRequest } from "fastify";
import { BulwarkError } from "../../errors/index.js";
import { cacheKey, unitVector, type CachedValue } from "../../cache/index.js";
import type { GatewayDeps } from "../types.js";
import type { CachePlan } from "./cache-lookup.js";

export const THRESHOLD_HEADER = "x-bulwark-semantic-threshold";

/** What a semantic lookup and store need of one request. */
export interface SemanticStep {
  /** A stored answer to a close enough question; undefined on a miss. */
  find(): Promise<CachedValue | undefined>;
  /** Remembers this question for the answer just stored under the plan's key. */
  stored(): void;
}

interface ChatLike {
  messages?: { role: string; content: unknown }[];
  tools?: unknown[] | null;
  response_format?: { type: string } | null;
  seed?: number | null;
}

function text(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((p) => (p as { text?: string }).text ?? "").join("");
  }
  return "";
}

/** The request's raise of the threshold, from its header; 400 when it is not a number 0..1. */
function requestedThreshold(request: FastifyRequest): number {
  const raw = request.headers[THRESHOLD_HEADER];
  if (raw === undefined) return 0;
  const value = Number(Array.isArray(raw) ? raw[0] : raw);
  if (typeof raw !== "string" || !(value >= 0 && value <= 1)) {
    throw new BulwarkError(
      "invalid_request",
      `Invalid ${THRESHOLD_HEADER} header: expected a number from 0 to 1.`,
      { param: THRESHOLD_HEADER },
    );
  }
  return value;
}

/** The request's semantic step, or undefined when the semantic cache stays out of it. */
export function planSemantic(
  deps: GatewayDeps,
  request: FastifyRequest,
  plan: CachePlan,
  body: ChatLike & Record<string, unknown>,
): SemanticStep | undefined {
  const indexes = plan.cache.semantic;
  const semantic = plan.settings.semantic;
  if (!indexes || !semantic || !request.ctx.key) return undefined;
  const raised = requestedThreshold(request);
  if ((body.tools?.length ?? 0) > 0) return undefined;
  if (body.response_format && body.response_format.type !== "text") return undefined;
  if (body.seed !== undefined && body.seed !== null) return undefined;
  const messages = body.messages ?? [];
  const last = messages.at(-1);
  const question = last?.role === "user" ? text(last.content) : "";
  if (!question) return undefined;
  const embedder = deps.models.get(semantic.model)?.model;
  const embedDigest = plan.cache.digests.digest(semantic.model);
  if (!embedder || !embedDigest) return undefined;
  const threshold = Math.max(semantic.threshold, plan.cache.settings.semanticMinThreshold, raised);
  const context =
    cacheKey({
      tenant: { id: plan.tenant },
      modelDigest: plan.digest,
      endpoint: "chat",
      body: { ...body, messages: messages.slice(0, -1) },
    }) + `|${semantic.model}|${embedDigest}`;
  let vector: Promise<Float32Array | undefined> | undefined;
  const embed = () =>
    (vector ??= embedder.embed([{ kind: "text", text: question, addSpecial: true }]).then(
      (r) => (r.embeddings[0] ? unitVector(r.embeddings[0]) : undefined),
      (err: Error) => {
        request.log.debug({ err: err.message }, "semantic cache: the question was not embedded");
        return undefined;
      },
    ));
  return {
    find: async () => {
      const index = indexes.find(plan.tenant);
      if (!index) {
        plan.cache.cache.semanticLookup(false);
        return undefined;
      }
      const v = await embed();
      const best = v ? index.nearest(context, v) : undefined;
      let value: CachedValue | undefined;
      if (best && best.similarity >= threshold) {
        value = plan.cache.cache.find(best.entryKey);
        if (!value) index.forget(context, best.entryKey);
      }
      plan.cache.cache.semanticLookup(value !== undefined);
      return value;
    },
    stored: () => {
      void embed().then((v) => {
        if (v) indexes.of(plan.tenant).add(context, v, plan.key);
      });
    },
  };
}
