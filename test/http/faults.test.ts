import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { fakeEngine, waitFor } from "../helpers/server.js";
import { buildTestGateway, type TestGateway } from "../helpers/gateway.js";
import { sseJson } from "../helpers/sse.js";
import { FAKE_TEXT } from "../../src/engine/fake/fake-replica.js";

let gateway: TestGateway;
let engine: ReturnType<typeof fakeEngine>;
const words = FAKE_TEXT.split(/(?<= )/);

before(async () => {
  engine = fakeEngine({ tokenDelayMs: 15 });
  gateway = await buildTestGateway(
    {
      models: [{ name: "fake", path: "/models/fake.gguf", slots: 2, replicas: 2 }],
      engine: {
        testHooks: true,
        restartBackoffMs: 20,
        progressTimeoutMs: 300,
        heartbeatIntervalMs: 50,
      },
    },
    { engine },
  );
  await waitFor(() => engine.replicas.filter((r) => r.state() === "ready").length === 2);
});
after(() => gateway.close());

const expected = (n: number) =>
  Array.from({ length: n }, (_, i) => words[i % words.length]).join("");

test("a crash re-queues every request that sent nothing; started streams end with an error event", async () => {
  const first = engine.replicas.find((r) => r.state() === "ready")!;
  const plain = Array.from({ length: 4 }, () =>
    gateway.request("POST", "/v1/completions", { model: "fake", prompt: "p", max_tokens: 12 }),
  );
  const streams = Array.from({ length: 2 }, () =>
    gateway.request("POST", "/v1/completions", {
      model: "fake",
      prompt: "s",
      max_tokens: 12,
      stream: true,
    }),
  );
  await new Promise((r) => setTimeout(r, 60));
  first.crash("killed by the test");
  const results = await Promise.all(plain);
  for (const r of results) {
    assert.equal(r.status, 200, r.text);
    assert.equal(
      r.json.choices[0].text,
      expected(12),
      "the re-run starts over: no duplicated text",
    );
    assert.equal(r.json.usage.completion_tokens, 12);
  }
  for (const s of await Promise.all(streams)) {
    const chunks = sseJson(s.text) as any[];
    const last = chunks.at(-1)!;
    if (last.error) {
      assert.equal(last.error.code, "engine_failure");
      assert.equal(last.error.type, "server_error");
      assert.match(s.text, /data: \[DONE\]\n\n$/);
    } else {
      assert.equal(last.choices[0].finish_reason, "length");
    }
  }
  assert.ok(await waitFor(() => engine.replicas.filter((r) => r.state() === "ready").length === 2));
});

test("a stream held whole (tools) and its n choices restart after a crash without repeating text", async () => {
  await waitFor(() => engine.replicas.filter((r) => r.state() === "ready").length === 2);
  const request = gateway.request("POST", "/v1/chat/completions", {
    model: "fake",
    messages: [{ role: "user", content: "q" }],
    tools: [{ type: "function", function: { name: "f" } }],
    max_tokens: 12,
    n: 2,
    stream: true,
  });
  // The tools' grammar compiles first; then a few words are generated, and held.
  assert.ok(await waitFor(() => engine.replicas.some((r) => r.activeJobs() > 0)));
  await new Promise((r) => setTimeout(r, 60));
  // One worker dies (two would make a choice on both a suspected query of death).
  const running = engine.replicas.find((x) => x.state() === "ready" && x.activeJobs() > 0);
  assert.ok(running);
  running.crash("killed by the test");
  const res = await request;
  assert.equal(res.status, 200, res.text);
  const chunks = sseJson(res.text) as any[];
  for (const index of [0, 1]) {
    const text = chunks
      .filter((c) => c.choices[0]?.index === index)
      .map((c) => c.choices[0].delta.content ?? "")
      .join("");
    // The fake engine writes text, never a call: the whole answer, once.
    assert.equal(text, expected(12));
  }
  assert.ok(await waitFor(() => engine.replicas.filter((r) => r.state() === "ready").length === 2));
});

test("a request that kills two workers is refused and logged; the others keep working", async () => {
  const res = await gateway.request("POST", "/v1/completions", {
    model: "fake",
    prompt: "boom [[bulwark-test:crash]]",
    max_tokens: 5,
  });
  assert.equal(res.status, 500);
  assert.equal(res.json.error.code, "request_crashed_workers");
  assert.ok(gateway.logs.some((l) => /query of death/.test(String(l.msg))));
  assert.ok(await waitFor(() => engine.replicas.filter((r) => r.state() === "ready").length === 2));
  const fine = await gateway.request("POST", "/v1/completions", {
    model: "fake",
    prompt: "ok",
    max_tokens: 3,
  });
  assert.equal(fine.status, 200);
});

test("a hung replica is detected by the progress watchdog and replaced", async () => {
  const before = engine.replicas.length;
  const res = await gateway.request("POST", "/v1/completions", {
    model: "fake",
    prompt: "hang once [[bulwark-test:hang]]",
    max_tokens: 3,
  });
  // The hook hangs every replica it runs on, so after one restart it is refused like a crash.
  assert.equal(res.json.error?.code, "request_crashed_workers");
  assert.ok(
    await waitFor(() => engine.replicas.length >= before + 2),
    "both hung replicas were replaced",
  );
  assert.ok(await waitFor(() => engine.replicas.filter((r) => r.state() === "ready").length === 2));
  assert.ok(
    gateway.logs.some((l) => /killing|hung/.test(String(l.msg)) || /hung/.test(String(l.reason))),
  );
});
