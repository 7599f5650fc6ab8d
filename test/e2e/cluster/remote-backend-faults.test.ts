/**
 * A remote backend that misbehaves (an OpenAI-compatible stub standing for vLLM) gives the
 * client OpenAI-shaped errors, never a 500 with a stack or the backend's text; a stream cut
 * after its first words ends with a clear error event; and TLS with a client certificate
 * (mTLS) to a backend, with a throwaway CA made by the test.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestServer, waitFor, type TestServer } from "../../helpers/server.js";
import { startOpenAiStub, STUB_ANSWER, type OpenAiStub } from "../../helpers/openai-stub.js";
import { ThrowawayCa } from "../../helpers/throwaway-ca.js";
import { sseJson } from "../../helpers/sse.js";

let stub: OpenAiStub;
let gateway: TestServer;

before(async () => {
  stub = await startOpenAiStub();
  gateway = await startTestServer({
    models: [
      {
        name: "remote",
        // Failures do not eject here: every case below reaches the same backend.
        backends: [{ url: stub.url, model: "stub-model", healthIntervalMs: 200, failures: 100 }],
      },
    ],
  });
  assert.ok(await waitFor(async () => gateway.models.list()[0]!.model.isReady(), 10_000));
});

after(async () => {
  await gateway?.close();
  await stub?.close();
});

async function post(path: string, body: Record<string, unknown>) {
  const res = await fetch(`${gateway.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "remote", max_tokens: 8, ...body }),
  });
  return { status: res.status, text: await res.text() };
}

const messages = [{ role: "user", content: "hello" }];

function assertOpenAiError(text: string, code: string) {
  const body = JSON.parse(text);
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
  assert.equal(body.error.code, code);
  assert.doesNotMatch(text, /\/srv\/|Traceback|CUDA|at \w+ \(/);
}

test("an answer from the stub: chat and completions, streamed and not", async () => {
  stub.mode = "ok";
  const chat = await post("/v1/chat/completions", { messages });
  assert.equal(chat.status, 200, chat.text);
  assert.equal(JSON.parse(chat.text).choices[0].message.content, STUB_ANSWER);
  const completion = await post("/v1/completions", { prompt: "Once upon a time" });
  assert.equal(JSON.parse(completion.text).choices[0].text, STUB_ANSWER);
  const streamed = await post("/v1/chat/completions", {
    messages,
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = sseJson(streamed.text) as any[];
  const text = chunks.map((c) => c.choices?.[0]?.delta?.content ?? "").join("");
  assert.equal(text, STUB_ANSWER);
  assert.equal(chunks.at(-1)!.usage.prompt_tokens, 11);
});

test("garbage and 5xx from the backend give 502 backend_error in OpenAI's shape", async () => {
  for (const mode of ["garbage", "error500"] as const) {
    stub.mode = mode;
    const res = await post("/v1/chat/completions", { messages });
    assert.equal(res.status, 502, `${mode}: ${res.text}`);
    assertOpenAiError(res.text, "backend_error");
  }
  stub.mode = "ok";
});

test("the backend's context refusal reaches the client as context_length_exceeded", async () => {
  stub.mode = "context";
  const res = await post("/v1/chat/completions", { messages });
  assert.equal(res.status, 400, res.text);
  assertOpenAiError(res.text, "context_length_exceeded");
  stub.mode = "ok";
});

test("what a remote backend cannot do is refused with unsupported_parameter", async () => {
  const res = await post("/v1/chat/completions", { messages, logprobs: true, top_logprobs: 2 });
  assert.equal(res.status, 400, res.text);
  assertOpenAiError(res.text, "unsupported_parameter");
  const emb = await post("/v1/embeddings", { input: "hello" });
  assert.equal(emb.status, 400, emb.text);
  assertOpenAiError(emb.text, "unsupported_parameter");
});

test("a stream cut after its first words ends with an engine_failure event, then [DONE]", async () => {
  stub.mode = "cut";
  const res = await post("/v1/chat/completions", { messages, stream: true });
  stub.mode = "ok";
  assert.equal(res.status, 200);
  const chunks = sseJson(res.text) as any[];
  assert.equal(chunks[0].choices[0].delta.content, "Hello");
  assert.equal(chunks.at(-1)!.error.code, "engine_failure");
  assert.match(res.text, /data: \[DONE\]\s*$/);
});

test("TLS with a client certificate: served with the right certificates, refused without", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-backend-tls-"));
  const ca = new ThrowawayCa(dir);
  const server = ca.issue("127.0.0.1", "server");
  const client = ca.issue("gateway", "client");
  const secure = await startOpenAiStub({
    key: readFileSync(server.key),
    cert: readFileSync(server.cert),
    ca: readFileSync(ca.cert),
    requestCert: true,
    rejectUnauthorized: true,
  });
  const common = {
    url: secure.url,
    model: "stub-model",
    healthIntervalMs: 200,
    connectTimeoutMs: 2_000,
  };
  const gw = await startTestServer({
    models: [
      { name: "mtls", backends: [{ ...common, ca: ca.cert, cert: client.cert, key: client.key }] },
      // Trusts the CA but presents no client certificate: the handshake fails.
      { name: "no-cert", backends: [{ ...common, ca: ca.cert }] },
    ],
    scheduler: { queueTimeoutMs: 1_500 },
  });
  try {
    const host = (name: string) => gw.models.list().find((e) => e.model.name === name)!.model;
    assert.ok(await waitFor(async () => host("mtls").isReady(), 10_000));
    const ok = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "mtls", messages, max_tokens: 8 }),
    });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.equal(((await ok.json()) as any).choices[0].message.content, STUB_ANSWER);
    assert.equal(host("no-cert").isReady(), false);
    assert.match(String(host("no-cert").status().backends![0]!.lastError), /health check/);
    const refused = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "no-cert", messages, max_tokens: 8 }),
    });
    assert.equal(refused.status, 503);
    assert.equal(((await refused.json()) as any).error.code, "model_not_ready");
  } finally {
    await gw.close();
    await secure.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a remote model gets every protection in front: keys, limits, masking, the response cache, usage", async () => {
  const { startSecureServer, call } = await import("../../helpers/access.js");
  const own = await startOpenAiStub();
  const s = await startSecureServer({
    models: [
      { name: "remote", backends: [{ url: own.url, model: "stub-model", healthIntervalMs: 200 }] },
    ],
  });
  try {
    const host = s.server.models.list()[0]!.model;
    assert.ok(await waitFor(async () => host.isReady(), 10_000));
    const url = `${s.server.url}/v1/chat/completions`;
    const body = (content: string, extra: Record<string, unknown> = {}) => ({
      model: "remote",
      messages: [{ role: "user", content }],
      max_tokens: 8,
      ...extra,
    });
    assert.equal((await call(url, undefined, "POST", body("hi"))).status, 401);
    assert.equal(own.requests.length, 0, "nothing reached the backend without a key");

    // Masking: the backend never sees the address.
    const masked = await s.createKey({ name: "masked", role: "user", mask: "prompt" });
    const res = await call(url, masked.key, "POST", body("write to alice@example.com now"));
    assert.equal(res.status, 200, res.text);
    assert.doesNotMatch(JSON.stringify(own.requests), /alice@example\.com/);

    // Requests per minute hold: the third is refused before the backend.
    const limited = await s.createKey({ name: "rpm", role: "user", rpm: 2 });
    const before = own.requests.length;
    const statuses = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await call(url, limited.key, "POST", body(`n${i}`))).status);
    assert.deepEqual(statuses, [200, 200, 429]);
    assert.equal(own.requests.length, before + 2);

    // The response cache answers a greedy repeat without the backend.
    const user = await s.createKey({ name: "cached", role: "user" });
    const first = await call(url, user.key, "POST", body("cache me", { temperature: 0 }));
    const sent = own.requests.length;
    const again = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${user.key}`, "content-type": "application/json" },
      body: JSON.stringify(body("cache me", { temperature: 0 })),
    });
    assert.equal(again.headers.get("x-bulwark-cache"), "hit");
    assert.deepEqual(((await again.json()) as any).choices, first.json.choices);
    assert.equal(own.requests.length, sent, "answered from the cache");

    // The key is charged what the backend counted (11 prompt tokens a request, in the stub).
    const usage = await call(`${s.server.url}/v1/usage`, user.key);
    assert.equal(usage.status, 200, usage.text);
    assert.match(usage.text, /"prompt_tokens":\s*(11|22)\b/);
  } finally {
    await s.close();
    await own.close();
  }
});
