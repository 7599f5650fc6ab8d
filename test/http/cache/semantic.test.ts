import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { buildTestGateway, type TestGateway } from "../../helpers/gateway.js";
import { fakeEngine } from "../../helpers/server.js";
import {
  KeyCacheStore,
  ResponseCache,
  SemanticIndexes,
  SemanticIndex,
  unitVector,
} from "../../../src/cache/index.js";
import { Authenticator, KeyStore } from "../../../src/auth/index.js";
import { openDatabase } from "../../../src/store/index.js";
import { cacheTestSettings } from "../../helpers/cache.js";
import type { PromptInput, ReplicaSpec, ServedModel } from "../../../src/engine/index.js";

// The semantic cache's mechanism and isolation. The models here cannot say whether a close
// question's answer is a good answer (see docs/api.md); an embedding model the test controls
// decides which questions are close, and every generation the engine runs is counted.
const FRANCE = "What is the capital of France?";
const FRANCE_AGAIN = "what's the capital of France";
const SPAIN = "What is the capital of Spain?";
const VECTORS: Record<string, number[]> = {
  [FRANCE]: [1, 0, 0],
  [FRANCE_AGAIN]: [0.99, Math.sqrt(1 - 0.99 ** 2), 0], // cosine 0.99 with FRANCE
  [SPAIN]: [0.8, 0, 0.6], // cosine 0.8 with FRANCE
};

let generations = 0;
let embeddings = 0;
let gateway: TestGateway;
const keys: Record<string, string> = {};

const embedder = {
  name: "embedder",
  created: 0,
  info: () => ({ embeddingSize: 3 }),
  isReady: () => true,
  isUnloaded: () => false,
  close: async () => undefined,
  embed: async (inputs: PromptInput[]) => {
    embeddings++;
    return {
      embeddings: inputs.map((i) => VECTORS[i.kind === "text" ? i.text : ""] ?? [0, 0, 1]),
      promptTokens: 3,
    };
  },
} as unknown as ServedModel;

before(async () => {
  const engine = fakeEngine({ tokenDelayMs: 1 });
  const factory = (spec: ReplicaSpec) => {
    const replica = engine.factory(spec);
    const generate = replica.generate.bind(replica);
    replica.generate = (job, listener) => {
      generations++;
      generate(job, listener);
    };
    return replica;
  };
  const db = openDatabase(":memory:");
  const store = new KeyStore(db);
  const settings = new KeyCacheStore(db);
  const make = (name: string, cache: unknown, mask: "none" | "reversible" = "none") => {
    const made = store.create({ name, role: "user", mask });
    settings.update(made.record.id, cache);
    keys[name] = made.key;
  };
  make("a", { semantic: { model: "embedder", threshold: 0.95 } });
  make("a2", { semantic: { model: "embedder", threshold: 0.95 } });
  make("team1", { namespace: "team", semantic: { model: "embedder", threshold: 0.95 } });
  make("team2", { namespace: "team", semantic: { model: "embedder", threshold: 0.95 } });
  make("low", { semantic: { model: "embedder", threshold: 0.5 } });
  make("exactOnly", {});
  const cacheSettings = cacheTestSettings;
  const digests = new Map([
    ["fake", "sha-model"],
    ["embedder", "sha-embedder"],
  ]);
  gateway = await buildTestGateway(
    { models: [{ name: "fake", path: "/models/fake.gguf", slots: 4 }] },
    {
      replicaFactory: factory,
      deps: {
        auth: {
          authenticator: new Authenticator(store),
          enabled: true,
          defaultPermission: "inference",
        },
        cache: {
          cache: new ResponseCache({ maxBytes: 1 << 20, maxEntryBytes: 1 << 18 }),
          digests: { digest: (m) => digests.get(m) },
          keys: settings,
          semantic: new SemanticIndexes(100),
          settings: cacheSettings,
        },
      },
    },
  );
  gateway.models.add({ model: embedder });
});
after(() => gateway.close());

const ask = (
  key: string,
  question: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) =>
  gateway.request(
    "POST",
    "/v1/chat/completions",
    {
      model: "fake",
      messages: [
        { role: "system", content: "Answer in one word." },
        { role: "user", content: question },
      ],
      max_tokens: 5,
      temperature: 0,
      ...extra,
    },
    { authorization: `Bearer ${keys[key]}`, ...headers },
  );
const outcome = (r: { headers: Headers }) => r.headers.get("x-bulwark-cache");

/** Waits until the stored question has been embedded and indexed (it happens after the answer). */
const settle = () => new Promise((r) => setTimeout(r, 20));

test("a close question in the same context gets the stored answer, with no generation", async () => {
  const first = await ask("a", FRANCE);
  assert.equal(outcome(first), "miss");
  await settle();
  const before = generations;
  const close = await ask("a", FRANCE_AGAIN);
  assert.equal(outcome(close), "semantic-hit");
  assert.equal(generations, before);
  assert.equal(close.json.choices[0].message.content, first.json.choices[0].message.content);
  // A plain repeat is still an exact hit, and needs no embedding.
  const embedded = embeddings;
  assert.equal(outcome(await ask("a", FRANCE)), "hit");
  assert.equal(embeddings, embedded);
});

test("a hit needs the threshold; a request may raise it, never lower it", async () => {
  assert.equal(outcome(await ask("a", SPAIN)), "miss", "0.8 < 0.95");
  await settle();
  // The Spain answer is stored now: FRANCE_AGAIN is still closest to FRANCE (0.99).
  const raised = await ask(
    "a",
    FRANCE_AGAIN,
    { max_tokens: 5 },
    {
      "x-bulwark-semantic-threshold": "0.995",
    },
  );
  assert.equal(outcome(raised), "miss", "0.99 < the raised 0.995");
  const lowered = await ask("a2", FRANCE);
  assert.equal(outcome(lowered), "miss");
  await settle();
  const notLowered = await ask("a2", SPAIN, {}, { "x-bulwark-semantic-threshold": "0.1" });
  assert.equal(outcome(notLowered), "miss", "a request cannot lower the key's threshold");
  const bad = await ask("a2", SPAIN, {}, { "x-bulwark-semantic-threshold": "high" });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.param, "x-bulwark-semantic-threshold");
});

test("a key's threshold below the configured floor counts as the floor", async () => {
  assert.equal(outcome(await ask("low", FRANCE)), "miss");
  await settle();
  assert.equal(outcome(await ask("low", SPAIN)), "miss", "0.8 < the floor 0.9, though ≥ 0.5");
  assert.equal(outcome(await ask("low", FRANCE_AGAIN)), "semantic-hit", "0.99 ≥ 0.9");
});

test("two tenants with identical prompts never hit each other; a namespace shares", async () => {
  // Key "a" has answered FRANCE; "exactOnly" and a fresh namespace have not.
  assert.equal(outcome(await ask("exactOnly", FRANCE_AGAIN)), "miss");
  assert.equal(outcome(await ask("team1", FRANCE)), "miss", "not key a's answer");
  await settle();
  assert.equal(outcome(await ask("team2", FRANCE_AGAIN)), "semantic-hit", "same namespace");
  assert.equal(outcome(await ask("a2", FRANCE_AGAIN)), "semantic-hit", "its own earlier answer");
});

test("another context (system prompt, earlier turns, fields) never matches", async () => {
  const other = await ask("a", FRANCE_AGAIN, {
    messages: [
      { role: "system", content: "Answer in French." },
      { role: "user", content: FRANCE_AGAIN },
    ],
  });
  assert.equal(outcome(other), "miss");
  assert.equal(outcome(await ask("a", FRANCE_AGAIN, { max_tokens: 4 })), "miss", "max_tokens");
});

test("tools, a structured response format or a seed turn the semantic cache off", async () => {
  const embedded = embeddings;
  const json = await ask("a", FRANCE_AGAIN, { response_format: { type: "json_object" } });
  assert.notEqual(outcome(json), "semantic-hit");
  const seeded = await ask("a", FRANCE_AGAIN, { temperature: 0.5, seed: 1 });
  assert.equal(outcome(seeded), "miss");
  const tools = await ask("a", FRANCE_AGAIN, {
    tools: [{ type: "function", function: { name: "f", parameters: {} } }],
  });
  assert.notEqual(outcome(tools), "semantic-hit");
  assert.equal(embeddings, embedded, "none of them was embedded");
});

test("the index: one per tenant, bounded, the nearest question in the same context", () => {
  const indexes = new SemanticIndexes(2);
  const v = (...x: number[]) => unitVector(x)!;
  indexes.of("key:a").add("ctx", v(1, 0), "answer-1");
  assert.equal(indexes.find("key:b"), undefined, "no index is shared");
  assert.equal(indexes.find("key:a")!.nearest("other", v(1, 0)), undefined);
  const index = indexes.of("key:a");
  index.add("ctx", v(0, 1), "answer-2");
  assert.equal(index.nearest("ctx", v(0.9, 0.1))!.entryKey, "answer-1");
  index.add("ctx", v(1, 1), "answer-3");
  assert.equal(index.size, 2, "the oldest left");
  assert.equal(index.nearest("ctx", v(1, 0))!.entryKey, "answer-3");
  index.forget("ctx", "answer-3");
  assert.equal(index.nearest("ctx", v(1, 0))!.entryKey, "answer-2");
  assert.ok(new SemanticIndex(1) instanceof SemanticIndex);
  assert.equal(unitVector([0, 0]), undefined);
});
