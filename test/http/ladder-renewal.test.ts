import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  fakeEngine,
  postJson,
  startTestServer,
  waitFor,
  type TestServer,
} from "../helpers/server.js";

// A rung that changes the workers' spec replaces the running workers one at a time. The memory
// use is injected: the rest of the machine (`percent`) plus 150 MB per live worker, so stopping
// a worker frees memory as it would. The guard, the ladder, the supervisor and admission act on
// it for real.
let percent = 40;
const WORKER_RSS = 150e6;
let engine: ReturnType<typeof fakeEngine>;
const memorySource = {
  read: async () => {
    const live = engine.replicas.filter((r) => r.state() === "ready").length;
    return { usedBytes: percent * 1e8 + live * WORKER_RSS, limitBytes: 1e10, source: "test" };
  },
};
let server: TestServer;

before(async () => {
  engine = fakeEngine({ tokenDelayMs: 10, rssBytes: WORKER_RSS });
  server = await startTestServer(
    {
      models: [{ name: "fake", path: "/models/fake.gguf", replicas: 2, slots: 2 }],
      guards: {
        sampleIntervalMs: 20,
        ladderStepMs: 0,
        workerOverheadBytes: 1e6,
        ladder: [{ model: "fake", slots: 1 }],
      },
    },
    { replicaFactory: engine.factory, memorySource },
  );
  assert.ok(await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200));
  assert.ok(
    await waitFor(async () => (await replicas()).filter((r) => r.state === "ready").length === 2),
  );
});
after(() => server.close());

const replicas = async () =>
  ((await (await fetch(`${server.url}/health`)).json()) as any).models[0].replicas as any[];
const allReadyWith = (slots: number) => async () => {
  const rs = await replicas();
  return rs.every((r) => r.state === "ready" && r.slots === slots);
};

test("a rung with fewer slots replaces the workers one by one while the model keeps serving", async () => {
  const before = (await replicas()).map((r) => r.id);
  assert.deepEqual(
    (await replicas()).map((r) => r.slots),
    [2, 2],
  );

  // Traffic and a readiness watch run through both renewals.
  let running = true;
  let notReady = 0;
  const results: number[] = [];
  const watch = (async () => {
    while (running) {
      if ((await fetch(`${server.url}/readyz`)).status !== 200) notReady++;
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  const traffic = (async () => {
    while (running) {
      const res = await postJson(`${server.url}/v1/completions`, {
        model: "fake",
        prompt: "x",
        max_tokens: 3,
      });
      results.push(res.status);
    }
  })();

  // 78% + 2 × 1.5% = 81%: warn. Each replacement fits once its predecessor stops.
  percent = 78;
  assert.ok(await waitFor(allReadyWith(1)), JSON.stringify(await replicas()));
  const degraded = (await replicas()).map((r) => r.id);
  assert.ok(
    degraded.every((id) => !before.includes(id)),
    `both workers replaced: ${before} → ${degraded}`,
  );
  assert.deepEqual(
    (await replicas()).map((r) => r.restarts),
    [0, 0],
    "a renewal is not a restart",
  );

  percent = 40;
  assert.ok(await waitFor(allReadyWith(2)), JSON.stringify(await replicas()));
  running = false;
  await Promise.all([watch, traffic]);

  assert.equal(notReady, 0, "one replica served during every replacement");
  assert.ok(results.length > 0);
  assert.deepEqual(
    results.filter((s) => s !== 200),
    [],
    "no request failed",
  );
  const logs = server.logs.filter((l) => l.msg === "replacing a worker with the current spec");
  assert.equal(logs.length, 4);
});

test("a worker is kept when its replacement would not fit under the warn threshold", async () => {
  const before = (await replicas()).map((r) => r.id);
  // 79% + 2 × 1.5% = 82%: without one worker 80.5%, still over 80% with the replacement.
  percent = 79;
  assert.ok(
    await waitFor(() =>
      server.logs.some(
        (l) =>
          l.msg === "keeping a worker of the old spec: its replacement would not fit in memory",
      ),
    ),
  );
  const now = await replicas();
  assert.deepEqual(
    now.map((r) => r.id),
    before,
  );
  assert.ok(now.every((r) => r.state === "ready" && r.slots === 2));
  percent = 40;
});
