import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { postJson, startTestServer, waitFor, type TestServer } from "../../helpers/server.js";
import { parseSse } from "../../helpers/sse.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";

const modelPath = storiesModel();
let server: TestServer;

async function health(): Promise<any> {
  return (await fetch(`${server.url}/health`)).json();
}

before(async () => {
  if (!modelPath) return;
  server = await startTestServer({
    models: [{ name: "stories", path: modelPath, slots: 4, replicas: 2, threads: 1 }],
    engine: {
      gpu: "cpu",
      contextSize: 512,
      testHooks: true,
      // Long enough that a worker slowed by a busy machine is not taken for a hung one (a
      // wrongly killed worker would count as a request's second death), short for the hang test.
      progressTimeoutMs: 3000,
      heartbeatIntervalMs: 200,
      restartBackoffMs: 100,
    },
  });
  assert.ok(
    await waitFor(
      async () => (await health()).models[0].replicas.every((r: any) => r.state === "ready"),
      60_000,
    ),
  );
});
after(() => server?.close());

const longGreedy = {
  model: "stories",
  prompt: "Once upon a time",
  max_tokens: 320,
  temperature: 0,
  ignore_eos: true,
};

/** Reads a streaming response, reporting when the first data arrives. */
async function readStream(body: object, onFirst: () => void): Promise<string> {
  const res = await fetch(`${server.url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...body, stream: true }),
  });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let first = true;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (first) {
      first = false;
      onFirst();
    }
    text += decoder.decode(value, { stream: true });
  }
  return text;
}

test("kill -9 of a worker during 8 concurrent requests: every request that had received nothing completes with the right text", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const reference = await postJson(`${server.url}/v1/completions`, longGreedy);
  assert.equal(reference.status, 200);
  const expected: string = reference.json.choices[0].text;

  const victim = (await health()).models[0].replicas[0];
  let killed = false;
  const kill = () => {
    if (killed) return;
    killed = true;
    process.kill(victim.pid, "SIGKILL");
  };
  const received = new Set<number>();
  const streaming = [0, 1, 2, 3].map((i) =>
    readStream(longGreedy, () => {
      received.add(i);
      kill();
    }),
  );
  const plain = [0, 1, 2, 3].map(() => postJson(`${server.url}/v1/completions`, longGreedy));
  const plainResults = await Promise.all(plain);
  const streamResults = await Promise.all(streaming);
  assert.ok(killed, "the worker was killed mid-run");
  for (const r of plainResults) {
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].text, expected);
    assert.equal(r.json.usage.completion_tokens, 320);
  }
  let interrupted = 0;
  for (const body of streamResults) {
    const data = parseSse(body);
    assert.equal(data.at(-1), "[DONE]");
    const events = data.slice(0, -1).map((d) => JSON.parse(d));
    const error = events.find((e) => e.error);
    if (error) {
      interrupted++;
      assert.equal(error.error.code, "engine_failure");
    } else {
      assert.equal(events.map((e) => e.choices[0]?.text ?? "").join(""), expected);
    }
  }
  assert.ok(interrupted <= 4);
  const after = await waitFor(
    async () => (await health()).models[0].replicas.every((r: any) => r.state === "ready"),
    30_000,
  );
  assert.ok(after, "the killed worker was restarted");
  const replica = (await health()).models[0].replicas[0];
  assert.ok(replica.restarts >= 1);
  assert.notEqual(replica.pid, victim.pid);
});

test("a client that disconnects frees its slot at once", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const controller = new AbortController();
  const res = await fetch(`${server.url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...longGreedy, max_tokens: 500, stream: true }),
    signal: controller.signal,
  });
  const reader = res.body!.getReader();
  await reader.read(); // the first chunk: generation is running
  const busy = (await health()).models[0].slots.busy;
  assert.equal(busy, 1);
  const abortedAt = performance.now();
  controller.abort();
  assert.ok(await waitFor(async () => (await health()).models[0].slots.busy === 0, 5000));
  const freedMs = performance.now() - abortedAt;
  t.diagnostic(
    `slot freed ${freedMs.toFixed(1)} ms after the disconnect (500 tokens take > 300 ms here)`,
  );
  const line = await waitFor(() => server.logs.some((l) => l.clientGone === true));
  assert.ok(line, "the request's log line marks the client as gone");
});

test("a hung worker (test hook) is detected by the progress watchdog and restarted", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const before = (await health()).models[0].replicas.reduce(
    (n: number, r: any) => n + r.restarts,
    0,
  );
  const res = await postJson(`${server.url}/v1/completions`, {
    model: "stories",
    prompt: "Once upon a time [[bulwark-test:hang]]",
    max_tokens: 20,
  });
  // The hook hangs every worker that runs it: after two, the request is refused, not lost.
  assert.equal(res.status, 500);
  assert.equal(res.json.error.code, "request_crashed_workers");
  assert.ok(server.logs.some((l) => String(l.reason ?? "").includes("hung")));
  assert.ok(
    await waitFor(async () => {
      const h = await health();
      const restarts = h.models[0].replicas.reduce((n: number, r: any) => n + r.restarts, 0);
      return restarts >= before + 2 && h.models[0].replicas.every((r: any) => r.state === "ready");
    }, 30_000),
  );
  const fine = await postJson(`${server.url}/v1/completions`, {
    model: "stories",
    prompt: "Once upon a time",
    max_tokens: 8,
    temperature: 0,
  });
  assert.equal(fine.status, 200);
});
