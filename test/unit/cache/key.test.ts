import { test } from "node:test";
import assert from "node:assert/strict";
import type { z } from "zod";
import {
  FIELD_RULES,
  cacheKey,
  canonicalRequest,
  isDetermined,
  requestCachePolicy,
  tenantOf,
  DEFAULT_KEY_CACHE,
  type CacheEndpoint,
} from "../../../src/cache/index.js";
import { chatRequestSchema } from "../../../src/gateway/chat/schema.js";
import { completionRequestSchema } from "../../../src/gateway/completions/schema.js";
import { embeddingRequestSchema } from "../../../src/gateway/embeddings/schema.js";

const SCHEMAS: Record<CacheEndpoint, z.ZodObject> = {
  chat: chatRequestSchema,
  completions: completionRequestSchema,
  embeddings: embeddingRequestSchema,
};

test("every request field is classified: in the key, or why it cannot change the output", () => {
  for (const [endpoint, schema] of Object.entries(SCHEMAS) as [CacheEndpoint, z.ZodObject][]) {
    const fields = Object.keys(schema.shape).sort();
    const rules = FIELD_RULES[endpoint];
    const missing = fields.filter((f) => rules[f] === undefined);
    assert.deepEqual(missing, [], `${endpoint}: classify these fields in src/cache/key.ts`);
    const stale = Object.keys(rules).filter((f) => !fields.includes(f));
    assert.deepEqual(stale, [], `${endpoint}: rules for fields the schema no longer has`);
    for (const [field, rule] of Object.entries(rules)) {
      if (!rule.key) assert.ok(rule.why.length > 10, `${endpoint}.${field} needs its reason`);
    }
  }
});

test("the fields that shape a generation are in the key", () => {
  for (const field of [
    "messages",
    "model",
    "temperature",
    "top_p",
    "seed",
    "stop",
    "logit_bias",
    "response_format",
    "tools",
    "max_tokens",
    "max_completion_tokens",
  ]) {
    assert.equal(FIELD_RULES.chat[field]?.key, true, field);
  }
  assert.equal(FIELD_RULES.completions.prompt?.key, true);
  assert.equal(FIELD_RULES.embeddings.input?.key, true);
});

test("an unclassified field refuses to make a key", () => {
  assert.throws(() => canonicalRequest("chat", { model: "m", messages: [], novel: 1 }), /novel/);
});

const tenant = { id: "key:a" };
const base = { model: "m", messages: [{ role: "user", content: "hi" }], temperature: 0 };
const key = (body: Record<string, unknown>, over: Partial<Parameters<typeof cacheKey>[0]> = {}) =>
  cacheKey({ tenant, modelDigest: "d1", endpoint: "chat", body, ...over });

test("keys: order, null and the ignored fields change nothing; the rest changes the key", () => {
  const k = key(base);
  assert.equal(key({ temperature: 0, messages: base.messages, model: "m" }), k);
  assert.equal(key({ ...base, seed: null, stream: true, user: "u", metadata: { a: "b" } }), k);
  assert.equal(key({ ...base, stop: "x" }), key({ ...base, stop: ["x"] }));
  assert.notEqual(key({ ...base, max_tokens: 3 }), k);
  assert.notEqual(key({ ...base, messages: [{ role: "user", content: "hi!" }] }), k);
  assert.notEqual(key(base, { tenant: { id: "key:b" } }), k, "tenant");
  assert.notEqual(key(base, { modelDigest: "d2" }), k, "model digest");
  const completion = { model: "m", prompt: "hi", temperature: 0 };
  assert.ok(key(completion, { endpoint: "completions" }).includes("|completions|"));
  assert.ok(k.startsWith("key:a|d1|chat|"));
});

test("determined: temperature 0 or a seed; embeddings always", () => {
  assert.equal(isDetermined("chat", { temperature: 0 }), true);
  assert.equal(isDetermined("chat", { temperature: 0.7, seed: 3 }), true);
  assert.equal(isDetermined("chat", { temperature: 0.7 }), false);
  assert.equal(isDetermined("chat", {}), false, "OpenAI's default temperature is 1");
  assert.equal(isDetermined("embeddings", {}), true);
});

test("x-bulwark-cache and the key's mode", () => {
  const ttl = { defaultMs: 1000, maxMs: 5000 };
  assert.deepEqual(requestCachePolicy(undefined, "on", ttl), {
    lookup: true,
    store: true,
    ttlMs: 1000,
  });
  assert.deepEqual(requestCachePolicy("no-cache", "on", ttl), {
    lookup: false,
    store: true,
    ttlMs: 1000,
  });
  assert.deepEqual(requestCachePolicy("No-Store, ttl=3", "on", ttl), {
    lookup: true,
    store: false,
    ttlMs: 3000,
  });
  assert.equal(requestCachePolicy("ttl=60", "on", ttl).ttlMs, 5000, "capped");
  assert.equal(requestCachePolicy("ttl=0", "on", ttl).store, false);
  assert.deepEqual(requestCachePolicy(undefined, "read-only", ttl), {
    lookup: true,
    store: false,
    ttlMs: 1000,
  });
  assert.deepEqual(requestCachePolicy(undefined, "off", ttl), {
    lookup: false,
    store: false,
    ttlMs: 1000,
  });
  assert.throws(() => requestCachePolicy("ttl=-1", "on", ttl), /x-bulwark-cache/);
  assert.throws(() => requestCachePolicy("always", "on", ttl), /x-bulwark-cache/);
});

test("tenants: a namespace is shared, reversible masking never shares", () => {
  const ns = { ...DEFAULT_KEY_CACHE, namespace: "team" };
  assert.equal(tenantOf(undefined, DEFAULT_KEY_CACHE).id, "public");
  assert.equal(tenantOf({ id: "k1", mask: "none" }, DEFAULT_KEY_CACHE).id, "key:k1");
  assert.equal(tenantOf({ id: "k1", mask: "none" }, ns).id, "ns:team");
  assert.equal(tenantOf({ id: "k2", mask: "prompt" }, ns).id, "ns:team");
  assert.equal(tenantOf({ id: "k3", mask: "reversible" }, ns).id, "key:k3");
});
