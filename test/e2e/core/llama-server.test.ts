/**
 * engine.backend "llama-server": a real llama-server process (built by `bulwark engine build`)
 * serving the real stories260K model behind the gateway.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { postJson, startTestServer, waitFor, type TestServer } from "../../helpers/server.js";
import { STORIES_GREEDY_64, STORIES_MISSING, storiesModel } from "../../helpers/paths.js";
import { spawnServe, waitReady } from "../../helpers/serve-process.js";
import { parseSse } from "../../helpers/sse.js";
import { defaultLlamaServerPath, isExecutable } from "../../../src/engine/llama-server/index.js";

const modelPath = storiesModel();
const binary = defaultLlamaServerPath();
const BINARY_MISSING =
  `llama-server not built at ${binary}: run \`npx bulwark engine build\` ` +
  "(these tests need it; in CI its absence is a failure)";
const haveBinary = isExecutable(binary);
const ready = Boolean(modelPath) && haveBinary;

/** Skips when a fixture is absent, except that CI must have the binary (it builds it). */
function requireFixtures(t: { skip(message: string): void; diagnostic(m: string): void }): boolean {
  if (!modelPath) {
    t.skip(STORIES_MISSING);
    return false;
  }
  if (!haveBinary) {
    if (process.env.CI === "true") assert.fail(BINARY_MISSING);
    t.skip(BINARY_MISSING);
    return false;
  }
  return true;
}

const chatMessages = [
  { role: "system" as const, content: "You tell stories." },
  { role: "user" as const, content: "Tell me about a dog named <s> [INST]." },
];
const longGreedy = {
  model: "stories",
  prompt: "Once upon a time",
  max_tokens: 300,
  temperature: 0,
  ignore_eos: true,
};

/** What the default backend gives for the same requests, to compare with. */
let reference: { chatTokens: number[]; long: any; logprobs: any } | undefined;
/** A request that ends at once: EOS (id 2 in stories260K) is made certain by its bias. */
const endsAtEos = {
  model: "stories",
  prompt: "Once upon a time",
  max_tokens: 10,
  temperature: 0,
  logit_bias: { "2": 100 },
};
let server: TestServer;
let client: OpenAI;

async function health(): Promise<any> {
  return (await fetch(`${server.url}/health`)).json();
}

before(async () => {
  if (!ready) {
    if (!haveBinary) console.log(`# ${BINARY_MISSING}`);
    return;
  }
  // The node-llama-cpp backend first, alone on the cores, for the reference answers.
  const nodeBackend = await startTestServer({
    // The engine is under test: the response cache would answer repeated requests without it.
    cache: { enabled: false },
    models: [{ name: "stories", path: modelPath, slots: 1, replicas: 1, threads: 1 }],
    engine: { gpu: "cpu", contextSize: 512 },
  });
  try {
    assert.ok(
      await waitFor(async () => (await fetch(`${nodeBackend.url}/readyz`)).status === 200, 60_000),
    );
    const tokens = await postJson(`${nodeBackend.url}/tokenize`, {
      model: "stories",
      messages: chatMessages,
    });
    const long = await postJson(`${nodeBackend.url}/v1/completions`, {
      model: "stories",
      prompt: "Once upon a time",
      max_tokens: 400,
      temperature: 0,
    });
    const logprobs = await postJson(`${nodeBackend.url}/v1/completions`, {
      model: "stories",
      prompt: "Once upon a time",
      max_tokens: 8,
      temperature: 0,
      logprobs: 5,
    });
    reference = { chatTokens: tokens.json.tokens, long: long.json, logprobs: logprobs.json };
  } finally {
    await nodeBackend.close();
  }
  // One slot per replica keeps greedy text reproducible (see faults.test.ts).
  server = await startTestServer({
    // The engine is under test: the response cache would answer repeated requests without it.
    cache: { enabled: false },
    models: [{ name: "stories", path: modelPath, slots: 1, replicas: 2, threads: 1 }],
    engine: {
      backend: "llama-server",
      gpu: "cpu",
      contextSize: 512,
      testHooks: true,
      heartbeatIntervalMs: 200,
      progressTimeoutMs: 3000,
      heartbeatTimeoutMs: 3000,
      restartBackoffMs: 100,
    },
  });
  assert.ok(
    await waitFor(
      async () => (await health()).models[0].replicas.every((r: any) => r.state === "ready"),
      60_000,
    ),
  );
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
});
after(() => server?.close());

test("llama-server backend: greedy completion is the published stories260K sample", async (t) => {
  if (!requireFixtures(t)) return;
  const res = await postJson(`${server.url}/v1/completions`, {
    model: "stories",
    prompt: "Once upon a time",
    max_tokens: 64,
    temperature: 0,
  });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.choices[0].text, STORIES_GREEDY_64);
  assert.equal(res.json.choices[0].finish_reason, "length");
  assert.equal(res.json.usage.completion_tokens, 64);
  const h = await health();
  assert.ok(h.models[0].replicas.every((r: any) => r.pid > 0 && r.rssBytes > 0));
});

test("llama-server backend: a long greedy generation is the node-llama-cpp backend's, token for token", async (t) => {
  if (!requireFixtures(t)) return;
  const res = await postJson(`${server.url}/v1/completions`, {
    model: "stories",
    prompt: "Once upon a time",
    max_tokens: 400,
    temperature: 0,
  });
  assert.equal(res.status, 200, res.text);
  const expected = reference!.long;
  assert.equal(res.json.choices[0].text, expected.choices[0].text);
  assert.equal(res.json.choices[0].finish_reason, expected.choices[0].finish_reason);
  // stories260K separates stories with BOS, not EOS: both backends render it as nothing and go on.
  assert.equal(res.json.usage.prompt_tokens, expected.usage.prompt_tokens);
  assert.equal(res.json.usage.completion_tokens, expected.usage.completion_tokens);
});

test("llama-server backend: a generation that ends at EOS: finish_reason stop, EOS not counted", async (t) => {
  if (!requireFixtures(t)) return;
  // As the node-llama-cpp worker counts: the end-of-generation token is not a completion token.
  const res = await postJson(`${server.url}/v1/completions`, endsAtEos);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.choices[0].text, "");
  assert.equal(res.json.choices[0].finish_reason, "stop");
  assert.equal(res.json.usage.completion_tokens, 0);
});

test("llama-server backend: output bytes that are not UTF-8 are answered, plain and streamed", async (t) => {
  if (!requireFixtures(t)) return;
  // Token 258 of stories260K is the byte <0xFF>, which never starts valid UTF-8; llama-server
  // fails such an answer with a 500 unless its chat parsing is switched off.
  const body = {
    model: "stories",
    prompt: "Once upon a time",
    max_tokens: 6,
    temperature: 0,
    logit_bias: { "258": 100 },
  };
  const plain = await postJson(`${server.url}/v1/completions`, body);
  assert.equal(plain.status, 200, plain.text);
  assert.equal(plain.json.choices[0].finish_reason, "length");
  assert.equal(plain.json.usage.completion_tokens, 6);
  const streamed = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      ...body,
      prompt: undefined,
      messages: [{ role: "user", content: "Hello" }],
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  assert.equal(streamed.status, 200);
  const events = parseSse(await streamed.text());
  assert.equal(events.at(-1), "[DONE]");
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
  assert.ok(
    chunks.every((c) => !c.error),
    JSON.stringify(chunks.find((c) => c.error)),
  );
  assert.equal(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason, "length");
  assert.equal(chunks.at(-1).usage.completion_tokens, 6);
});

test("llama-server backend: a chat prompt is tokenized exactly as by the node-llama-cpp backend", async (t) => {
  if (!requireFixtures(t)) return;
  const res = await postJson(`${server.url}/tokenize`, {
    model: "stories",
    messages: chatMessages,
  });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json.tokens, reference!.chatTokens);
});

test("llama-server backend: chat and completions through the openai client, plain and streamed", async (t) => {
  if (!requireFixtures(t)) return;
  const chat = await client.chat.completions.create({
    model: "stories",
    messages: chatMessages,
    max_tokens: 24,
    temperature: 0,
  });
  assert.equal(chat.choices[0]!.message.role, "assistant");
  assert.ok((chat.choices[0]!.message.content ?? "").length > 0);
  assert.equal(chat.usage!.prompt_tokens, reference!.chatTokens.length);

  const chatStream = await client.chat.completions.create({
    model: "stories",
    messages: chatMessages,
    max_tokens: 24,
    temperature: 0,
    stream: true,
  });
  let streamed = "";
  for await (const chunk of chatStream) streamed += chunk.choices[0]?.delta.content ?? "";
  assert.equal(streamed, chat.choices[0]!.message.content);

  const completionStream = await client.completions.create({
    model: "stories",
    prompt: "Once upon a time",
    max_tokens: 64,
    temperature: 0,
    stream: true,
  });
  let text = "";
  let finish: string | null = null;
  for await (const chunk of completionStream) {
    text += chunk.choices[0]?.text ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(text, STORIES_GREEDY_64);
  assert.equal(finish, "length");
});

test("llama-server backend: a plain answer is the streamed one, text, finish and usage", async (t) => {
  if (!requireFixtures(t)) return;
  const prompts = ["Once upon a time", "The cat", "Lily wanted to", "One day, a little"];
  const variants = [{}, { stop: ["the", "."] }, { max_tokens: 7 }];
  for (const prompt of prompts) {
    for (const variant of variants) {
      for (const endpoint of ["completions", "chat"] as const) {
        const base = { model: "stories", temperature: 0, max_tokens: 60, ...variant };
        const label = `${endpoint} ${prompt} ${JSON.stringify(variant)}`;
        let plain: { text: string; finish: string | null; tokens: number };
        let text = "";
        let finish: string | null = null;
        let tokens = -1;
        if (endpoint === "chat") {
          const body = { ...base, messages: [{ role: "user" as const, content: prompt }] };
          const p = await client.chat.completions.create(body);
          plain = {
            text: p.choices[0]!.message.content ?? "",
            finish: p.choices[0]!.finish_reason,
            tokens: p.usage!.completion_tokens,
          };
          const stream = await client.chat.completions.create({
            ...body,
            stream: true,
            stream_options: { include_usage: true },
          });
          for await (const chunk of stream) {
            text += chunk.choices[0]?.delta.content ?? "";
            finish = chunk.choices[0]?.finish_reason ?? finish;
            if (chunk.usage) tokens = chunk.usage.completion_tokens;
          }
        } else {
          const p = await client.completions.create({ ...base, prompt });
          plain = {
            text: p.choices[0]!.text,
            finish: p.choices[0]!.finish_reason,
            tokens: p.usage!.completion_tokens,
          };
          const stream = await client.completions.create({
            ...base,
            prompt,
            stream: true,
            stream_options: { include_usage: true },
          });
          for await (const chunk of stream) {
            text += chunk.choices[0]?.text ?? "";
            finish = chunk.choices[0]?.finish_reason ?? finish;
            if (chunk.usage) tokens = chunk.usage.completion_tokens;
          }
        }
        assert.deepEqual(plain, { text, finish, tokens }, label);
      }
    }
  }
});

test("llama-server backend: logprobs are the node-llama-cpp backend's; n and tool calls work", async (t) => {
  if (!requireFixtures(t)) return;
  const res = await postJson(`${server.url}/v1/completions`, {
    model: "stories",
    prompt: "Once upon a time",
    max_tokens: 8,
    temperature: 0,
    logprobs: 5,
  });
  assert.equal(res.status, 200, res.text);
  const mine = res.json.choices[0].logprobs;
  const theirs = reference!.logprobs.choices[0].logprobs;
  assert.deepEqual(mine.tokens, theirs.tokens);
  mine.token_logprobs.forEach((v: number, i: number) => {
    assert.ok(Math.abs(v - theirs.token_logprobs[i]) < 1e-2, `${v} vs ${theirs.token_logprobs[i]}`);
    assert.deepEqual(Object.keys(mine.top_logprobs[i]), Object.keys(theirs.top_logprobs[i]));
  });
  // Sampled: the values are of the distribution sampled from (after the sampler chain).
  const stream = await client.chat.completions.create({
    model: "stories",
    messages: chatMessages,
    max_tokens: 12,
    temperature: 1,
    seed: 5,
    logprobs: true,
    top_logprobs: 3,
    stream: true,
  });
  const entries: OpenAI.Chat.ChatCompletionTokenLogprob[] = [];
  for await (const chunk of stream) entries.push(...(chunk.choices[0]?.logprobs?.content ?? []));
  assert.equal(entries.length, 12);
  for (const e of entries) {
    assert.ok(e.logprob <= 0 && e.top_logprobs.length <= 3);
    assert.ok(e.top_logprobs.reduce((sum, x) => sum + Math.exp(x.logprob), 0) <= 1 + 1e-6);
  }
  const echo = await postJson(`${server.url}/v1/completions`, {
    model: "stories",
    prompt: "Once",
    max_tokens: 2,
    logprobs: 1,
    echo: true,
  });
  assert.equal(echo.status, 400, echo.text);
  assert.equal(echo.json.error.code, "unsupported_parameter");
  const echoOnly = await postJson(`${server.url}/v1/completions`, {
    model: "stories",
    prompt: "Once upon",
    max_tokens: 0,
    echo: true,
  });
  assert.equal(echoOnly.status, 200, echoOnly.text);
  assert.equal(echoOnly.json.choices[0].text, "Once upon");
  assert.equal(echoOnly.json.usage.completion_tokens, 0);
  const two = await client.completions.create({
    model: "stories",
    prompt: "Once upon a time",
    max_tokens: 8,
    temperature: 0,
    n: 2,
  });
  assert.equal(two.choices[0]!.text, two.choices[1]!.text);
  assert.equal(two.usage!.completion_tokens, 16);
  const call = await client.chat.completions.create({
    model: "stories",
    messages: [{ role: "user", content: "Weather in Paris?" }],
    tools: [
      {
        type: "function",
        function: {
          name: "get_weather",
          parameters: {
            type: "object",
            properties: { city: { type: "string", enum: ["Paris", "Oslo"] } },
            required: ["city"],
          },
        },
      },
    ],
    tool_choice: "required",
    max_tokens: 64,
    temperature: 0,
  });
  const toolCall = call.choices[0]!.message
    .tool_calls![0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
  assert.ok(["Paris", "Oslo"].includes(JSON.parse(toolCall.function.arguments).city));
});

test("llama-server backend: stop strings end the text before them; max_tokens gives length", async (t) => {
  if (!requireFixtures(t)) return;
  const stopped = await client.completions.create({
    model: "stories",
    prompt: "Once upon a time",
    max_tokens: 64,
    temperature: 0,
    stop: ["Lily"],
  });
  assert.equal(stopped.choices[0]!.text, ", there was a little girl named ");
  assert.equal(stopped.choices[0]!.finish_reason, "stop");
  const short = await client.completions.create({
    model: "stories",
    prompt: "Once upon a time",
    max_tokens: 5,
    temperature: 0,
  });
  assert.equal(short.choices[0]!.finish_reason, "length");
  assert.equal(short.usage!.completion_tokens, 5);
  assert.ok(STORIES_GREEDY_64.startsWith(short.choices[0]!.text));
});

test("llama-server backend: a client that disconnects frees its slot", async (t) => {
  if (!requireFixtures(t)) return;
  const controller = new AbortController();
  const res = await fetch(`${server.url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...longGreedy, max_tokens: 500, stream: true }),
    signal: controller.signal,
  });
  const reader = res.body!.getReader();
  await reader.read();
  controller.abort();
  assert.ok(await waitFor(async () => (await health()).models[0].slots.busy === 0, 5000));
  // The engine took the slot back too: two requests at once still run on the two replicas.
  const both = await Promise.all(
    [0, 1].map(() => postJson(`${server.url}/v1/completions`, { ...longGreedy, max_tokens: 16 })),
  );
  for (const r of both) assert.equal(r.status, 200, r.text);
});

test("llama-server backend: kill -9 of the llama-server process: its request completes on the other replica", async (t) => {
  if (!requireFixtures(t)) return;
  const expected = (await postJson(`${server.url}/v1/completions`, longGreedy)).json.choices[0]
    .text;
  const running = [0, 1].map(() => postJson(`${server.url}/v1/completions`, longGreedy));
  assert.ok(await waitFor(async () => (await health()).models[0].slots.busy === 2, 10_000));
  const waiting = postJson(`${server.url}/v1/completions`, longGreedy);
  const victim = (await health()).models[0].replicas[0];
  process.kill(victim.pid, "SIGKILL");
  for (const r of await Promise.all([...running, waiting])) {
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].text, expected);
  }
  assert.ok(
    await waitFor(
      async () => (await health()).models[0].replicas.every((r: any) => r.state === "ready"),
      30_000,
    ),
    "the killed llama-server was restarted",
  );
  assert.notEqual((await health()).models[0].replicas[0].pid, victim.pid);
});

test("llama-server backend: kill -9 of the llama-server process mid-stream: the stream goes on elsewhere with the same text", async (t) => {
  if (!requireFixtures(t)) return;
  const body = { ...longGreedy, max_tokens: 480 };
  const reference = await postJson(`${server.url}/v1/completions`, body);
  assert.equal(reference.status, 200, reference.text);
  const expected: string = reference.json.choices[0].text;
  let killed: Promise<void> | undefined;
  let victimPid: number | undefined;
  const kill = async () => {
    const busy = (await health()).models[0].replicas.find((r: any) => r.busySlots === 1);
    assert.ok(busy, "one replica is streaming");
    victimPid = busy.pid;
    process.kill(busy.pid, "SIGKILL");
  };
  const res = await fetch(`${server.url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
  });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let raw = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    raw += decoder.decode(value, { stream: true });
    if (!killed && raw.split("data: ").length > 5) killed = kill();
  }
  await killed;
  assert.ok(victimPid, "the llama-server process was killed mid-stream");
  const data = parseSse(raw);
  assert.equal(data.at(-1), "[DONE]");
  const events = data.slice(0, -1).map((d) => JSON.parse(d));
  assert.ok(!events.some((e) => e.error), "no error event: the stream was resumed");
  assert.equal(events.map((e) => e.choices[0]?.text ?? "").join(""), expected);
  assert.equal(events.at(-1).usage.completion_tokens, 480);
  assert.ok(server.logs.some((l) => l.msg === "worker died while streaming; resuming the stream"));
  assert.ok(
    await waitFor(
      async () => (await health()).models[0].replicas.every((r: any) => r.state === "ready"),
      30_000,
    ),
  );
});

test("llama-server backend: the crash and hang test hooks are caught by the supervisor", async (t) => {
  if (!requireFixtures(t)) return;
  for (const hook of ["crash", "hang"]) {
    const res = await postJson(`${server.url}/v1/completions`, {
      model: "stories",
      prompt: `Once upon a time [[bulwark-test:${hook}]]`,
      max_tokens: 20,
    });
    // The hook strikes every replica that runs it: after two, the request is refused.
    assert.equal(res.status, 500, `${hook}: ${res.text}`);
    assert.equal(res.json.error.code, "request_crashed_workers");
    assert.ok(
      await waitFor(
        async () => (await health()).models[0].replicas.every((r: any) => r.state === "ready"),
        30_000,
      ),
      `${hook}: both replicas restarted`,
    );
  }
});

test("llama-server backend: engine.promptCacheBytes restores a prompt its slot gave up; without it the prompt is evaluated again", async (t) => {
  if (!requireFixtures(t)) return;
  // One slot: the second prompt takes the slot from the first, so only the host prompt cache can
  // give the first one's evaluated tokens back when it comes again.
  const first = "Lily and her mom went to the park to play with a big red ball. ".repeat(4);
  const second = "Tom saw a little bird in a tree and wanted to help it fly. ".repeat(4);
  const run = async (promptCacheBytes: number) => {
    const one = await startTestServer({
      cache: { enabled: false },
      models: [{ name: "stories", path: modelPath, slots: 1, replicas: 1, threads: 1 }],
      engine: { backend: "llama-server", gpu: "cpu", contextSize: 512, promptCacheBytes },
    });
    try {
      assert.ok(
        await waitFor(async () => (await fetch(`${one.url}/readyz`)).status === 200, 60_000),
      );
      const ask = async (prompt: string) => {
        const r = await postJson(`${one.url}/v1/completions`, {
          model: "stories",
          prompt,
          max_tokens: 12,
          temperature: 0,
        });
        assert.equal(r.status, 200, r.text);
        return r.json;
      };
      const a = await ask(first);
      await ask(second);
      const again = await ask(first);
      assert.equal(again.choices[0].text, a.choices[0].text, "the restored state answers alike");
      return {
        prompt: again.usage.prompt_tokens as number,
        cached: again.usage.prompt_tokens_details.cached_tokens as number,
      };
    } finally {
      await one.close();
    }
  };
  const withCache = await run(64 * 1024 * 1024);
  assert.ok(withCache.prompt > 60, `a long prompt (${withCache.prompt} tokens)`);
  assert.ok(
    withCache.cached >= withCache.prompt - 2,
    `restored from the host cache: ${withCache.cached} of ${withCache.prompt} tokens`,
  );
  const without = await run(0);
  t.diagnostic(`cached tokens: ${JSON.stringify({ withCache, without })}`);
  assert.ok(
    without.cached < 8,
    `evaluated again without the cache: ${without.cached} of ${without.prompt} cached`,
  );
});

test("bulwark serve --engine-backend llama-server serves and stops its engine; a missing binary stops the start", async (t) => {
  if (!requireFixtures(t)) return;
  const home = mkdtempSync(join(tmpdir(), "bulwark-serve-"));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const args = [
    "--engine-backend",
    "llama-server",
    "--port",
    "0",
    "--model",
    `stories=${modelPath}`,
  ];
  const env = { ...process.env, BULWARK_HOME: home, BULWARK_SECURITY_AUTH: "false" };
  const missing = spawnServe(args, { ...env, BULWARK_ENGINES_DIR: "/nonexistent" });
  assert.equal(await missing.exit, 2);
  assert.match(missing.stderr(), /engine\.llamaServerBinary/);
  assert.match(missing.stderr(), /bulwark engine build/);

  const serve = spawnServe([...args, "--threads", "1", "--slots", "1", "--gpu", "cpu"], env);
  const url = await serve.url;
  assert.ok(await waitReady(url, 60_000), serve.stderr());
  const res = await postJson(`${url}/v1/completions`, {
    model: "stories",
    prompt: "Once upon a time",
    max_tokens: 64,
    temperature: 0,
  });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.choices[0].text, STORIES_GREEDY_64);
  const status: any = await (await fetch(`${url}/health`)).json();
  const pid: number = status.models[0].replicas[0].pid;
  serve.child.kill("SIGTERM");
  assert.equal(await serve.exit, 0);
  assert.throws(() => process.kill(pid, 0), "the llama-server process stopped with the server");
});
