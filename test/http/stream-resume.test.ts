import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  fakeEngine,
  postJson,
  startTestServer,
  waitFor,
  type TestServer,
} from "../helpers/server.js";
import { sseJson } from "../helpers/sse.js";
import { FAKE_TEXT } from "../../src/engine/fake/fake-replica.js";

let server: TestServer;
let engine: ReturnType<typeof fakeEngine>;
const words = FAKE_TEXT.split(/(?<= )/);

before(async () => {
  engine = fakeEngine({ tokenDelayMs: 15 });
  server = await startTestServer(
    {
      models: [{ name: "fake", path: "/models/fake.gguf", slots: 2, replicas: 2 }],
      engine: { testHooks: true, restartBackoffMs: 20, heartbeatIntervalMs: 50 },
    },
    { replicaFactory: engine.factory },
  );
  await waitFor(() => readyReplicas().length === 2);
});
after(() => server.close());

const readyReplicas = () => engine.replicas.filter((r) => r.state() === "ready");
const expected = (n: number) =>
  Array.from({ length: n }, (_, i) => words[i % words.length]).join("");

/**
 * Streams a completion and calls `onText` with the text received so far after each chunk;
 * returns the raw SSE body.
 */
async function stream(body: object, onText: (text: string) => void): Promise<string> {
  const res = await fetch(`${server.url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "fake", stream: true, ...body }),
  });
  if (!res.headers.get("content-type")?.includes("text/event-stream")) return res.text();
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let raw = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    raw += decoder.decode(value, { stream: true });
    onText(textOf(raw.slice(0, raw.lastIndexOf("\n\n") + 2)));
  }
  return raw;
}

function textOf(raw: string): string {
  return (sseJson(raw) as any[]).map((e) => e.choices?.[0]?.text ?? "").join("");
}

/** Kills the replica running a job, once. */
function killer() {
  let done = false;
  return () => {
    if (done) return;
    const victim = engine.replicas.find((r) => r.state() === "ready" && r.activeJobs() > 0);
    if (!victim) return;
    done = true;
    victim.crash("killed by the test");
  };
}

test("a worker killed mid-stream: the client gets one uninterrupted stream", async () => {
  const kill = killer();
  const raw = await stream(
    { prompt: "p", max_tokens: 12, stream_options: { include_usage: true } },
    (text) => {
      if (text.length >= expected(4).length) kill();
    },
  );
  const events = sseJson(raw) as any[];
  assert.ok(!events.some((e) => e.error), raw);
  assert.equal(textOf(raw), expected(12), "no word lost, none repeated");
  const finish = events.filter((e) => e.choices?.[0]?.finish_reason);
  assert.deepEqual(
    finish.map((e) => e.choices[0].finish_reason),
    ["length"],
  );
  const usage = events.at(-1)!.usage;
  assert.equal(usage.completion_tokens, 12, "tokens sent before the death are counted once");
  assert.match(raw, /data: \[DONE\]\n\n$/);
  assert.ok(server.logs.some((l) => l.msg === "worker died while streaming; resuming the stream"));
  assert.ok(await waitFor(() => readyReplicas().length === 2));
});

test("a resumed stream keeps text held back for a stop string, and still stops on it", async () => {
  engine.controls.tokenDelayMs = 150;
  try {
    // "its " is held back as the start of "s fake engine, which": the kill lands while the
    // client has "...from it" and "s " waits in the dead worker's stop matcher.
    const kill = killer();
    const raw = await stream(
      { prompt: "p", max_tokens: 20, stop: ["s fake engine, which"] },
      (text) => {
        if (text.endsWith("from it")) kill();
      },
    );
    assert.ok(!(sseJson(raw) as any[]).some((e) => e.error), raw);
    assert.equal(textOf(raw), "Bulwark is serving this text from it");
    const finish = (sseJson(raw) as any[]).filter((e) => e.choices?.[0]?.finish_reason);
    assert.equal(finish[0].choices[0].finish_reason, "stop");
    assert.ok(
      server.logs.some((l) => l.msg === "worker died while streaming; resuming the stream"),
    );
  } finally {
    engine.controls.tokenDelayMs = 15;
  }
  assert.ok(await waitFor(() => readyReplicas().length === 2));
});

test("a stream whose request kills every worker it decodes on is refused after two", async () => {
  const raw = await stream({ prompt: "boom [[bulwark-test:crash]]", max_tokens: 5 }, () => {});
  const events = raw.startsWith("{") ? [JSON.parse(raw)] : (sseJson(raw) as any[]);
  // The crash hook kills before the first token: nothing was streamed, so the refusal is the
  // plain error answer or a single error event.
  const error = events.find((e) => e.error)?.error;
  assert.equal(error.code, "request_crashed_workers");
  assert.ok(await waitFor(() => readyReplicas().length === 2));
});

test("tokenize and embeddings move to a live replica when theirs were killed from outside", async () => {
  const logsBefore = server.logs.length;
  // Both replicas are killed from outside; their exits reach the supervisor only later, so for
  // a moment they still look ready and every call on them fails at once.
  for (const r of readyReplicas()) r.sever(300);
  const completion = postJson(`${server.url}/v1/completions`, {
    model: "fake",
    prompt: "after the kill",
    max_tokens: 3,
  });
  const embedding = postJson(`${server.url}/v1/embeddings`, { model: "fake", input: "hello" });
  const [c, e] = await Promise.all([completion, embedding]);
  assert.equal(c.status, 200, c.text);
  assert.equal(c.json.choices[0].text, expected(3));
  assert.equal(e.status, 200, e.text);
  assert.equal(e.json.data.length, 1);
  const logs = server.logs.slice(logsBefore);
  assert.ok(!logs.some((l) => /query of death|two workers died/.test(String(l.msg))));
  assert.ok(logs.some((l) => l.msg === "worker died under a call; retrying on another"));
  assert.ok(await waitFor(() => readyReplicas().length === 2));
});
