/**
 * Response-cache keys, pure. Every field of the three request schemas is classified here as
 * either part of the key (it can change the output) or left out of it, with the reason; a unit
 * test enumerates the schemas and fails on a field classified nowhere, so a new request field
 * cannot silently make two different requests share an answer.
 */
import { createHash } from "node:crypto";

/** An endpoint the response cache serves. */
export type CacheEndpoint = "chat" | "completions" | "embeddings";

/** In the key, or left out of it with the reason it cannot change the stored answer. */
export type FieldRule = { key: true } | { key: false; why: string };

const KEY: FieldRule = { key: true };
const out = (why: string): FieldRule => ({ key: false, why });

/** Fields chat and completions share (src/gateway/shared/sampling-params.ts). */
const GENERATION_RULES: Record<string, FieldRule> = {
  model: KEY,
  max_tokens: KEY,
  temperature: KEY,
  top_p: KEY,
  top_k: KEY,
  min_p: KEY,
  seed: KEY,
  stop: KEY,
  presence_penalty: KEY,
  frequency_penalty: KEY,
  logit_bias: KEY,
  response_format: KEY,
  ignore_eos: KEY,
  // Requests with n > 1 or logprobs bypass the cache (cacheableRequest); in the key all the
  // same, so that storing richer answers later is safe. best_of takes only its neutral value.
  n: KEY,
  logprobs: KEY,
  best_of: KEY,
  user: out("an end-user id for abuse tracking; never reaches the engine"),
  stream: out("the stored answer is replayed as one JSON body or as server-sent events"),
  stream_options: out("the usage chunk is rendered per request from the stored counts"),
};

/** Every request field of each endpoint, classified. */
export const FIELD_RULES: Record<CacheEndpoint, Record<string, FieldRule>> = {
  chat: {
    ...GENERATION_RULES,
    messages: KEY,
    max_completion_tokens: KEY,
    top_logprobs: KEY,
    tools: KEY,
    tool_choice: KEY,
    parallel_tool_calls: KEY,
    store: out("OpenAI's stored-completions flag; only false is accepted and nothing is stored"),
    metadata: out("tags for OpenAI's stored completions; never reaches the engine"),
  },
  completions: {
    ...GENERATION_RULES,
    prompt: KEY,
    echo: KEY,
    suffix: KEY,
  },
  embeddings: {
    model: KEY,
    input: KEY,
    dimensions: KEY,
    encoding_format: out("the stored vectors are encoded per request (float or base64)"),
    user: out("an end-user id for abuse tracking; never reaches the engine"),
  },
};

/** JSON with object keys sorted, so that field order never changes a key. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/**
 * The canonical form of a request's output-affecting fields: absent and null are the same, a
 * single stop string is a list of one. Throws on a field the rules do not know.
 */
export function canonicalRequest(
  endpoint: CacheEndpoint,
  body: Record<string, unknown>,
): Record<string, unknown> {
  const rules = FIELD_RULES[endpoint];
  const fields: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(body)) {
    const rule = rules[name];
    if (!rule) throw new Error(`the response cache does not classify the field '${name}'`);
    if (!rule.key || value === undefined || value === null) continue;
    fields[name] = name === "stop" && typeof value === "string" ? [value] : value;
  }
  return fields;
}

/** Who may read an entry: one key, or a namespace its keys share. */
export interface Tenant {
  /** "key:<id>", "ns:<namespace>", or "public" with auth off. */
  readonly id: string;
}

/** The facts a key is made of. */
export interface KeyParts {
  tenant: Tenant;
  /** The served model's content digest (sha256 of its GGUF). */
  modelDigest: string;
  endpoint: CacheEndpoint;
  body: Record<string, unknown>;
}

/** The entry's key: tenant, model digest and endpoint in clear (for clearing), then a hash. */
export function cacheKey(parts: KeyParts): string {
  const hash = createHash("sha256")
    .update(canonicalJson(canonicalRequest(parts.endpoint, parts.body)))
    .digest("hex");
  return `${parts.tenant.id}|${parts.modelDigest}|${parts.endpoint}|${hash}`;
}

/**
 * Whether a generation's output is determined by its request: greedy (temperature 0) or
 * seeded. Embeddings always are.
 */
export function isDetermined(endpoint: CacheEndpoint, body: Record<string, unknown>): boolean {
  if (endpoint === "embeddings") return true;
  return body.temperature === 0 || (body.seed !== undefined && body.seed !== null);
}
