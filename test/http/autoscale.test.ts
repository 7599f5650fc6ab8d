import { test } from "node:test";
import assert from "node:assert/strict";
import {
  fakeEngine,
  postJson,
  startTestServer,
  waitFor,
  type TestServer,
} from "../helpers/server.js";

// The whole server with the fake engine: the autoscaler, the replica manager, load admission
// and the memory guard act for real; only the workers and the memory reading are stand-ins.

const autoscale = {
  intervalMs: 50,
  upQueueDepth: 2,
  upQueueWaitMs: 60_000,
  upWindowMs: 200,
  downIdleMs: 600,
  cooldownMs: 100,
};

const health = async (server: TestServer) =>
  ((await (await fetch(`${server.url}/health`)).json()) as any).models[0];
const live = (model: any) => (model.replicas as any[]).filter((r) => r.state === "ready").length;

/** `count` requests at once, each holding its slot for about `tokens` × 20 ms. */
const burst = (server: TestServer, count: number, tokens = 15) =>
  Promise.all(
    Array.from({ length: count }, () =>
      postJson(`${server.url}/v1/completions`, {
        model: "fake",
        prompt: "x",
        max_tokens: tokens,
      }),
    ),
  );

test("a burst grows a model to max, idleness brings it back to min; every decision shows", async () => {
  const engine = fakeEngine({ tokenDelayMs: 20 });
  const server = await startTestServer(
    {
      models: [{ name: "fake", path: "/models/fake.gguf", replicas: { min: 1, max: 3 }, slots: 1 }],
      scheduler: { queueLimit: 100 },
      autoscale,
    },
    { replicaFactory: engine.factory },
  );
  try {
    assert.ok(await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200));
    const start = await health(server);
    assert.equal(live(start), 1, "starts at min");
    assert.deepEqual(
      { min: start.autoscale.min, max: start.autoscale.max, replicas: start.autoscale.replicas },
      { min: 1, max: 3, replicas: 1 },
    );

    let peak = 0;
    const watching = setInterval(() => {
      void health(server).then((m) => (peak = Math.max(peak, live(m))));
    }, 20);
    const results = await burst(server, 30);
    clearInterval(watching);
    for (const r of results) assert.equal(r.status, 200, r.text);
    const grown = await health(server);
    peak = Math.max(peak, live(grown));
    assert.equal(peak, 3, "the burst grew it to max");
    assert.ok(grown.autoscale.decisions.up >= 2);
    assert.ok(!server.logs.some((l) => l.action === "up" && Number(l.to) > 3), "never past max");

    // Idle: one replica is stopped per idle period, down to min and no further.
    assert.ok(
      await waitFor(async () => live(await health(server)) === 1, 10_000),
      "idle brought it back to min",
    );
    const after = await health(server);
    assert.equal(after.autoscale.replicas, 1);
    assert.equal(after.autoscale.decisions.down, after.autoscale.decisions.up);
    assert.equal(after.autoscale.recent[0].action, "down");
    assert.match(after.autoscale.recent[0].reason, /^idle for/);
    assert.equal(after.replicas.length, 1, "stopped replicas leave the list");
    assert.equal(after.ready, true);

    const ups = server.logs.filter((l) => l.msg === "autoscale: adding a replica");
    const downs = server.logs.filter((l) => l.msg === "autoscale: stopping a replica");
    assert.equal(ups.length, after.autoscale.decisions.up);
    assert.equal(downs.length, after.autoscale.decisions.down);
    for (const l of ups) assert.match(String(l.reason), /queue depth \d+ ≥ 2 for/);

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(
      metrics,
      new RegExp(`bulwark_autoscale_decisions_total\\{model="fake",action="up"\\} ${ups.length}`),
    );
    assert.match(
      metrics,
      new RegExp(
        `bulwark_autoscale_decisions_total\\{model="fake",action="down"\\} ${downs.length}`,
      ),
    );

    // It serves on after shrinking.
    assert.equal(
      (await burst(server, 2, 2)).every((r) => r.status === 200),
      true,
    );
  } finally {
    await server.close();
  }
});

test("memory admission that allows two replicas stops the autoscaler at two, with the reason", async () => {
  const engine = fakeEngine({ tokenDelayMs: 20 });
  // 5.5 GB of 10 GB in use plus 1 GB per live worker; each worker is estimated at 1 GB (its
  // overhead: the fake's file does not exist). The warn line, admission's ceiling, is 8 GB: a
  // second worker makes 7.5 GB, a third would make 8.5 GB.
  const memorySource = {
    read: async () => {
      const workers = engine.replicas.filter((r) => r.state() === "ready").length;
      return { usedBytes: 5.5e9 + workers * 1e9, limitBytes: 1e10, source: "test" };
    },
  };
  const server = await startTestServer(
    {
      models: [{ name: "fake", path: "/models/fake.gguf", replicas: { min: 1, max: 4 }, slots: 1 }],
      scheduler: { queueLimit: 100 },
      autoscale,
      guards: { sampleIntervalMs: 20, workerOverheadBytes: 1e9 },
    },
    { replicaFactory: engine.factory, memorySource },
  );
  try {
    assert.ok(await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200));
    let peak = 0;
    const watching = setInterval(() => {
      void health(server).then((m) => (peak = Math.max(peak, live(m))));
    }, 20);
    const results = await burst(server, 40);
    clearInterval(watching);
    for (const r of results) assert.equal(r.status, 200, r.text);

    const model = await health(server);
    assert.equal(peak, 2, "stopped at two");
    assert.ok(model.autoscale.decisions.up_refused >= 1);
    const refusal = (model.autoscale.recent as any[]).find((e) => e.action === "up_refused");
    assert.ok(refusal, "the refusal is in /health");
    assert.deepEqual([refusal.from, refusal.to], [3, 2]);
    assert.match(refusal.reason, /over the warn threshold of 80%/);
    const logged = server.logs.filter(
      (l) => l.msg === "autoscale: replica refused by memory admission; staying at 2",
    );
    assert.ok(logged.length >= 1);
    assert.match(String(logged[0]!.reason), /Loading a replica of model fake needs an estimated/);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(
      metrics,
      /bulwark_autoscale_decisions_total\{model="fake",action="up_refused"\} [1-9]/,
    );
    // The refused position is gone: two replicas listed, both serving.
    assert.equal(model.replicas.length, 2);
  } finally {
    await server.close();
  }
});
