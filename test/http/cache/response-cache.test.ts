import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { buildTestGateway, type TestGateway } from "../../helpers/gateway.js";
import { fakeEngine } from "../../helpers/server.js";
import { sseJson } from "../../helpers/sse.js";
import { ResponseCache } from "../../../src/cache/index.js";
import { cacheTestSettings } from "../../helpers/cache.js";
import type { ReplicaSpec } from "../../../src/engine/index.js";

// The response cache in front of the fake engine, through inject(): every generation the
// engine runs is counted, and the model's digest is the test's to change.
const digests = new Map<string, string>([["fake", "sha-v1"]]);
let generations = 0;
let cache: ResponseCache;
let gateway: TestGateway;

const settings = cacheTestSettings;

before(async () => {
  const engine = fakeEngine({ tokenDelayMs: 2 });
  const factory = (spec: ReplicaSpec) => {
    const replica = engine.factory(spec);
    const generate = replica.generate.bind(replica);
    replica.generate = (job, listener) => {
      generations++;
      generate(job, listener);
    };
    return replica;
  };
  cache = new ResponseCache({ maxBytes: settings.maxBytes, maxEntryBytes: settings.maxEntryBytes });
  gateway = await buildTestGateway(
    { models: [{ name: "fake", path: "/models/fake.gguf", slots: 4 }] },
    {
      replicaFactory: factory,
      deps: { cache: { cache, digests: { digest: (m) => digests.get(m) }, settings } },
    },
  );
});
after(() => gateway.close());

let n = 0;
/** A chat body no other test sends. */
const fresh = (extra: Record<string, unknown> = {}) => ({
  model: "fake",
  messages: [{ role: "user", content: `question ${++n}` }],
  max_tokens: 6,
  temperature: 0,
  ...extra,
});
const chat = (body: unknown, headers: Record<string, string> = {}) =>
  gateway.request("POST", "/v1/chat/completions", body, headers);

test("a determined request misses, then hits with the same answer and no generation", async () => {
  const body = fresh();
  const first = await chat(body);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("x-bulwark-cache"), "miss");
  const before = generations;
  const second = await chat(body);
  assert.equal(second.headers.get("x-bulwark-cache"), "hit");
  assert.equal(generations, before, "no engine call for a hit");
  assert.equal(second.json.choices[0].message.content, first.json.choices[0].message.content);
  assert.equal(second.json.choices[0].finish_reason, first.json.choices[0].finish_reason);
  assert.equal(second.json.usage.prompt_tokens, first.json.usage.prompt_tokens);
  assert.equal(second.json.usage.completion_tokens, first.json.usage.completion_tokens);
  assert.equal(
    second.json.usage.prompt_tokens_details.cached_tokens,
    first.json.usage.prompt_tokens,
  );
  assert.match(second.json.id, /^chatcmpl-/);
  assert.notEqual(second.json.id, first.json.id, "the hit has its own id");
});

test("field order and null fields do not change the key; an output field does", async () => {
  const body = fresh({ stop: "zzz", user: "alice" });
  await chat(body);
  const reordered = Object.fromEntries(Object.entries(body).reverse());
  const same = await chat({ ...reordered, stop: ["zzz"], user: "bob", presence_penalty: null });
  assert.equal(same.headers.get("x-bulwark-cache"), "hit");
  const other = await chat({ ...body, max_tokens: 5 });
  assert.equal(other.headers.get("x-bulwark-cache"), "miss");
});

test("sampled requests bypass the cache; a seed makes a request determined", async () => {
  const sampled = { ...fresh(), temperature: 0.8 };
  assert.equal((await chat(sampled)).headers.get("x-bulwark-cache"), "bypass");
  assert.equal((await chat(sampled)).headers.get("x-bulwark-cache"), "bypass");
  const seeded = { ...sampled, seed: 7 };
  assert.equal((await chat(seeded)).headers.get("x-bulwark-cache"), "miss");
  assert.equal((await chat(seeded)).headers.get("x-bulwark-cache"), "hit");
});

test("n > 1, logprobs, echo and callable tools bypass the cache: a stored answer is plain text", async () => {
  const weather = { type: "function", function: { name: "get_weather" } };
  const bodies = [
    fresh({ n: 2 }),
    fresh({ logprobs: true }),
    fresh({ tools: [weather] }),
    fresh({ tools: [weather], tool_choice: "required" }),
  ];
  for (const body of bodies) {
    for (let i = 0; i < 2; i++) {
      const res = await chat(body);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get("x-bulwark-cache"), "bypass", JSON.stringify(body));
    }
  }
  const twice = await chat(fresh({ n: 2 }));
  assert.equal(twice.json.choices.length, 2);
  const echo = { model: "fake", prompt: `echo ${++n}`, max_tokens: 2, temperature: 0, echo: true };
  for (let i = 0; i < 2; i++) {
    const res = await gateway.request("POST", "/v1/completions", echo);
    assert.equal(res.headers.get("x-bulwark-cache"), "bypass");
    assert.ok(res.json.choices[0].text.startsWith(echo.prompt));
  }
  // tool_choice "none": the answer is text, and cached as usual.
  const none = fresh({ tools: [weather], tool_choice: "none" });
  assert.equal((await chat(none)).headers.get("x-bulwark-cache"), "miss");
  assert.equal((await chat(none)).headers.get("x-bulwark-cache"), "hit");
});

test("a new model digest (a promoted or rolled-back version) misses", async () => {
  const body = fresh();
  await chat(body);
  assert.equal((await chat(body)).headers.get("x-bulwark-cache"), "hit");
  digests.set("fake", "sha-v2");
  try {
    assert.equal((await chat(body)).headers.get("x-bulwark-cache"), "miss");
    assert.equal((await chat(body)).headers.get("x-bulwark-cache"), "hit");
  } finally {
    digests.set("fake", "sha-v1");
  }
  assert.equal((await chat(body)).headers.get("x-bulwark-cache"), "hit", "v1's entry is v1's");
  digests.delete("fake");
  try {
    assert.equal((await chat(body)).headers.get("x-bulwark-cache"), "bypass", "digest unknown");
  } finally {
    digests.set("fake", "sha-v1");
  }
});

test("no-store is never stored, no-cache skips the lookup but stores", async () => {
  const body = fresh();
  assert.equal(
    (await chat(body, { "x-bulwark-cache": "no-store" })).headers.get("x-bulwark-cache"),
    "miss",
  );
  assert.equal((await chat(body)).headers.get("x-bulwark-cache"), "miss", "nothing was stored");
  assert.equal((await chat(body)).headers.get("x-bulwark-cache"), "hit");
  const before = generations;
  const fresh1 = await chat(body, { "x-bulwark-cache": "no-cache" });
  assert.equal(fresh1.headers.get("x-bulwark-cache"), "miss");
  assert.equal(generations, before + 1, "no-cache generates anew");
  const bad = await chat(body, { "x-bulwark-cache": "sometimes" });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.param, "x-bulwark-cache");
});

test("ttl=SECONDS bounds the entry's life", async () => {
  const body = fresh();
  await chat(body, { "x-bulwark-cache": "ttl=1" });
  assert.equal((await chat(body)).headers.get("x-bulwark-cache"), "hit");
  await new Promise((r) => setTimeout(r, 1_100));
  assert.equal((await chat(body)).headers.get("x-bulwark-cache"), "miss", "expired");
  const zero = fresh();
  await chat(zero, { "x-bulwark-cache": "ttl=0" });
  assert.equal((await chat(zero)).headers.get("x-bulwark-cache"), "miss", "ttl=0 stores nothing");
});

test("a streamed hit replays the same chunks, usage chunk and [DONE]", async () => {
  const body = fresh({ stream: true, stream_options: { include_usage: true } });
  const live = await chat(body);
  assert.equal(live.headers.get("x-bulwark-cache"), "miss");
  const hit = await chat(body);
  assert.equal(hit.headers.get("x-bulwark-cache"), "hit");
  assert.match(hit.headers.get("content-type") ?? "", /^text\/event-stream/);
  assert.ok(hit.text.trimEnd().endsWith("data: [DONE]"));
  const strip = (text: string) =>
    (sseJson(text) as any[]).map(({ id: _id, created: _c, ...rest }) => rest);
  const liveChunks = strip(live.text);
  const hitChunks = strip(hit.text);
  assert.deepEqual(
    hitChunks.map((c) => ({ ...c, usage: c.usage && { ...c.usage, prompt_tokens_details: 0 } })),
    liveChunks.map((c) => ({ ...c, usage: c.usage && { ...c.usage, prompt_tokens_details: 0 } })),
  );
  // A plain request hits the entry a streamed one stored.
  const plain = await chat({ ...body, stream: false, stream_options: undefined });
  assert.equal(plain.headers.get("x-bulwark-cache"), "hit");
});

test("the openai client parses a streamed hit like a live stream", async () => {
  const client = new OpenAI({
    apiKey: "unused",
    baseURL: "http://gateway.test/v1",
    maxRetries: 0,
    fetch: async (url, init) => {
      const res = await gateway.app.inject({
        method: (init?.method ?? "GET") as "POST",
        url: new URL(String(url)).pathname,
        headers: Object.fromEntries(new Headers(init?.headers).entries()),
        payload: init?.body as string,
      });
      const headers = new Headers();
      for (const [k, v] of Object.entries(res.headers))
        if (v !== undefined) headers.set(k, String(v));
      return new Response(res.rawPayload, { status: res.statusCode, headers });
    },
  });
  const request = {
    model: "fake",
    messages: [{ role: "user" as const, content: "openai client question" }],
    max_tokens: 6,
    temperature: 0,
    stream: true as const,
    stream_options: { include_usage: true },
  };
  const read = async () => {
    const { data, response } = await client.chat.completions.create(request).withResponse();
    let text = "";
    let usage;
    let finish;
    for await (const chunk of data) {
      text += chunk.choices[0]?.delta?.content ?? "";
      finish ??= chunk.choices[0]?.finish_reason ?? undefined;
      usage ??= chunk.usage ?? undefined;
    }
    return { text, usage, finish, cache: response.headers.get("x-bulwark-cache") };
  };
  const live = await read();
  const hit = await read();
  assert.equal(live.cache, "miss");
  assert.equal(hit.cache, "hit");
  assert.ok(live.text.length > 0);
  assert.equal(hit.text, live.text);
  assert.equal(hit.finish, live.finish);
  assert.equal(hit.usage?.completion_tokens, live.usage?.completion_tokens);
});

test("single-flight: 20 identical concurrent requests make one generation", async () => {
  const body = fresh({ max_tokens: 12 });
  const before = generations;
  const answers = await Promise.all(
    Array.from({ length: 20 }, (_, i) => chat(i % 2 === 0 ? body : { ...body, stream: true })),
  );
  assert.equal(generations - before, 1);
  const outcomes = answers.map((a) => a.headers.get("x-bulwark-cache"));
  assert.equal(outcomes.filter((o) => o === "miss").length, 1, outcomes.join(","));
  assert.equal(outcomes.filter((o) => o === "hit").length, 19);
  const plainText = answers[0]!.json.choices[0].message.content;
  for (const [i, a] of answers.entries()) {
    assert.equal(a.status, 200);
    const text =
      i % 2 === 0
        ? a.json.choices[0].message.content
        : (sseJson(a.text) as any[]).map((c) => c.choices[0]?.delta?.content ?? "").join("");
    assert.equal(text, plainText, `request ${i}`);
  }
});

test("a failed generation stores nothing and its waiters generate for themselves", async () => {
  const body = fresh();
  const before = generations;
  const bad = await chat({ ...body, max_tokens: 10_000_000 });
  assert.equal(bad.status, 400);
  assert.equal((await chat(body)).headers.get("x-bulwark-cache"), "miss");
  assert.equal(generations - before, 1);
});

test("completions and embeddings are cached too; encoding_format is applied per request", async () => {
  const completion = { model: "fake", prompt: "complete me", max_tokens: 4, temperature: 0 };
  const c1 = await gateway.request("POST", "/v1/completions", completion);
  const c2 = await gateway.request("POST", "/v1/completions", completion);
  assert.equal(c1.headers.get("x-bulwark-cache"), "miss");
  assert.equal(c2.headers.get("x-bulwark-cache"), "hit");
  assert.equal(c2.json.choices[0].text, c1.json.choices[0].text);
  assert.equal(c2.json.object, "text_completion");
  // The same prompt on the chat endpoint is another entry.
  const asChat = await chat({
    ...fresh(),
    messages: [{ role: "user", content: "complete me" }],
    max_tokens: 4,
  });
  assert.equal(asChat.headers.get("x-bulwark-cache"), "miss");

  const embed = { model: "fake", input: ["one", "two"] };
  const e1 = await gateway.request("POST", "/v1/embeddings", embed);
  const e2 = await gateway.request("POST", "/v1/embeddings", {
    ...embed,
    encoding_format: "base64",
  });
  assert.equal(e1.headers.get("x-bulwark-cache"), "miss");
  assert.equal(e2.headers.get("x-bulwark-cache"), "hit");
  const bytes = Buffer.from(e2.json.data[1].embedding as string, "base64");
  const decoded = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
  assert.deepEqual(decoded, Array.from(new Float32Array(e1.json.data[1].embedding as number[])));
  assert.equal(e2.json.usage.prompt_tokens, e1.json.usage.prompt_tokens);
});

test("clearing by model empties the model's entries", async () => {
  const body = fresh();
  await chat(body);
  assert.equal((await chat(body)).headers.get("x-bulwark-cache"), "hit");
  assert.ok(cache.clear({ model: "other" }) === 0);
  assert.ok(cache.clear({ model: "fake" }) > 0);
  assert.equal((await chat(body)).headers.get("x-bulwark-cache"), "miss");
  assert.equal(cache.stats().inFlight, 0);
});
