/**
 * logprobs, n and echo on the real stories260K model through the official openai client (and
 * plain HTTP where the client has no field for it).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { postJson, startTestServer, waitFor, type TestServer } from "../../helpers/server.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";
import { bulwark } from "../../helpers/cli.js";
import { PERPLEXITY_TEXT } from "../../../src/models/validate/texts.js";

const modelPath = storiesModel();
let server: TestServer;
let client: OpenAI;

before(async () => {
  if (!modelPath) return;
  server = await startTestServer({
    // Four slots: n = 4 runs its choices side by side. One slot: its choices run one after
    // another, each alone in the batch, so a seed repeats them exactly (docs/api.md).
    models: [
      { name: "stories", path: modelPath, slots: 4, threads: 1 },
      { name: "stories-serial", path: modelPath, slots: 1, threads: 1 },
    ],
    // The engine is under test: the response cache would answer repeated requests without it.
    cache: { enabled: false },
    engine: { gpu: "cpu", contextSize: 512 },
  });
  assert.ok(
    await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200, 60_000),
  );
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
});
after(() => server?.close());

type Entry = OpenAI.Chat.ChatCompletionTokenLogprob;

/** Sorted, ≤ 0, probabilities adding up to at most 1, the chosen token listed with its value. */
function assertEntry(e: Entry, greedy: boolean) {
  const values = e.top_logprobs.map((t) => t.logprob);
  assert.ok(e.logprob <= 0);
  for (const v of values) assert.ok(v <= 0);
  for (let i = 1; i < values.length; i++) assert.ok(values[i - 1]! >= values[i]!);
  assert.ok(values.reduce((s, v) => s + Math.exp(v), 0) <= 1 + 1e-6);
  const listed = e.top_logprobs.find((t) => t.token === e.token);
  if (listed) assert.equal(listed.logprob, e.logprob);
  if (greedy) {
    assert.equal(e.top_logprobs[0]!.token, e.token);
    assert.equal(e.top_logprobs[0]!.logprob, e.logprob);
  }
  assert.deepEqual(e.bytes, [...Buffer.from(e.token, "utf8")]);
}

test("openai client: chat logprobs with top_logprobs, plain and streamed", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const request = {
    model: "stories",
    messages: [{ role: "user" as const, content: "Tell me about a dog." }],
    max_tokens: 16,
    logprobs: true,
    top_logprobs: 20,
  };
  for (const temperature of [0, 1]) {
    const completion = await client.chat.completions.create({ ...request, temperature, seed: 9 });
    const content = completion.choices[0]!.logprobs!.content!;
    assert.equal(content.length, completion.usage!.completion_tokens);
    assert.equal(
      content
        .map((e) => e.token)
        .join("")
        .trim(),
      completion.choices[0]!.message.content!.trim(),
    );
    for (const e of content) {
      assert.equal(e.top_logprobs.length, 20);
      assertEntry(e, temperature === 0);
    }
  }
  const plain = await client.chat.completions.create({ ...request, temperature: 0 });
  const stream = await client.chat.completions.create({ ...request, temperature: 0, stream: true });
  const streamed: Entry[] = [];
  for await (const chunk of stream) streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
  assert.deepEqual(
    streamed.map((e) => [e.token, e.logprob]),
    plain.choices[0]!.logprobs!.content!.map((e) => [e.token, e.logprob]),
  );
});

test("openai client: completions logprobs 0..5, plain and streamed", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const request = { model: "stories", prompt: "Once upon a time", max_tokens: 12, temperature: 0 };
  const completion = await client.completions.create({ ...request, logprobs: 5 });
  const lp = completion.choices[0]!.logprobs!;
  assert.equal(lp.tokens!.length, 12);
  assert.equal(lp.tokens!.join(""), completion.choices[0]!.text);
  lp.top_logprobs!.forEach((top, i) => {
    const entries = Object.entries(top);
    assert.ok(entries.length >= 4 && entries.length <= 5);
    // Greedy: the chosen token is the most likely one.
    const best = entries.reduce((a, b) => (b[1] > a[1] ? b : a));
    assert.equal(best[1], lp.token_logprobs![i]);
  });
  assert.equal(lp.text_offset![0], 0);
  const stream = await client.completions.create({ ...request, logprobs: 0, stream: true });
  const tokens: string[] = [];
  for await (const chunk of stream) tokens.push(...(chunk.choices[0]?.logprobs?.tokens ?? []));
  assert.deepEqual(tokens, lp.tokens);
});

test("n: 4 with a seed is reproducible; greedy n: 2 gives two identical choices; usage counts all", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const sideBySide = await client.completions.create({
    model: "stories",
    prompt: "Once upon a time",
    max_tokens: 16,
    temperature: 1,
    seed: 42,
    n: 4,
  });
  assert.deepEqual(
    sideBySide.choices.map((c) => c.index),
    [0, 1, 2, 3],
  );
  assert.equal(sideBySide.usage!.completion_tokens, 64);
  // Reproducible where each choice runs alone in the batch.
  const seeded = {
    model: "stories-serial",
    prompt: "Once upon a time",
    max_tokens: 16,
    temperature: 1,
    seed: 42,
    n: 4,
  };
  const a = await client.completions.create(seeded);
  const b = await client.completions.create(seeded);
  assert.equal(a.choices.length, 4);
  assert.deepEqual(
    a.choices.map((c) => c.index),
    [0, 1, 2, 3],
  );
  assert.deepEqual(
    a.choices.map((c) => c.text),
    b.choices.map((c) => c.text),
  );
  assert.ok(new Set(a.choices.map((c) => c.text)).size > 1, "the choices differ from each other");
  assert.equal(a.usage!.completion_tokens, 64);
  assert.equal(a.usage!.prompt_tokens, 5);
  const greedy = await client.chat.completions.create({
    model: "stories",
    messages: [{ role: "user", content: "Tell me about a dog." }],
    max_tokens: 16,
    temperature: 0,
    n: 2,
  });
  assert.equal(greedy.choices.length, 2);
  assert.equal(greedy.choices[0]!.message.content, greedy.choices[1]!.message.content);
  assert.equal(greedy.usage!.completion_tokens, 32);
  const stream = await client.chat.completions.create({
    model: "stories",
    messages: [{ role: "user", content: "Tell me about a dog." }],
    max_tokens: 16,
    temperature: 0,
    n: 2,
    stream: true,
    stream_options: { include_usage: true },
  });
  const texts = ["", ""];
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) {
    for (const c of chunk.choices) texts[c.index] += c.delta.content ?? "";
    if (chunk.usage) usage = chunk.usage;
  }
  assert.deepEqual(texts, [greedy.choices[0]!.message.content, greedy.choices[1]!.message.content]);
  assert.equal(usage!.completion_tokens, 32);
});

test("echo with logprobs: perplexity from the prompt's logprobs matches `bulwark models validate`", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const validate = bulwark(["models", "validate", "--json", modelPath]);
  assert.equal(validate.status, 0, validate.stderr);
  const report = JSON.parse(validate.stdout) as {
    checks: { name: string; values?: { perplexity?: number; tokens?: number } }[];
  };
  const check = report.checks.find((c) => c.name === "perplexity")!;
  const expected = check.values!.perplexity!;
  // max_tokens 1 (one generated token follows the prompt's) and 0 (lm-eval style: none).
  for (const maxTokens of [1, 0]) {
    const res = await postJson(`${server.url}/v1/completions`, {
      model: "stories",
      prompt: PERPLEXITY_TEXT,
      max_tokens: maxTokens,
      temperature: 0,
      logprobs: 0,
      echo: true,
    });
    assert.equal(res.status, 200, res.text);
    const choice = res.json.choices[0];
    assert.ok(choice.text.startsWith(PERPLEXITY_TEXT));
    if (maxTokens === 0) assert.equal(choice.text, PERPLEXITY_TEXT);
    const values: (number | null)[] = choice.logprobs.token_logprobs;
    assert.equal(values[0], null);
    const prompt = values.slice(1, values.length - maxTokens) as number[];
    assert.equal(prompt.length, check.values!.tokens);
    const perplexity = Math.exp(-prompt.reduce((s, v) => s + v, 0) / prompt.length);
    assert.ok(
      Math.abs(perplexity - expected) / expected < 0.01,
      `perplexity ${perplexity} from echo, ${expected} from validate`,
    );
  }
});
