/**
 * Real thresholds crossed for real: a memory budget over Bulwark's own processes, a real
 * worker, and real memory the test allocates in the gateway process (the server runs in this
 * process). Use walks warn → shed → reclaim → resume once the memory is freed. At reclaim the
 * idle model is unloaded whole (and loads again on its next request), or, with that step off,
 * its worker is stopped and restarts once admission allows.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { postJson, startTestServer, waitFor } from "../../helpers/server.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";

const modelPath = storiesModel();
const MiB = 1024 * 1024;

// Freed buffers give their pages back only after a GC; the test needs one on demand.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Room for this process, a worker (about 104 MiB measured) and slack, at about 60%. */
const budgetNow = () => Math.round((process.memoryUsage.rss() + 160 * MiB) / 0.6);

test("a memory budget walks warn → shed → reclaim → resume with a real worker", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  if (!existsSync("/proc/self/status")) return t.skip("needs Linux /proc to read RSS");
  const budget = budgetNow();
  const server = await startTestServer({
    models: [{ name: "stories", path: modelPath, slots: 1 }],
    engine: {
      gpu: "cpu",
      contextSize: 256,
      threads: 1,
      restartBackoffMs: 100,
      restartBackoffMaxMs: 300,
    },
    guards: {
      sampleIntervalMs: 50,
      memoryBudgetBytes: budget,
      reclaimCooldownMs: 500,
      // This walk covers stopping a worker; the next test covers unloading the idle model.
      unloadIdleModels: false,
    },
  });
  const ballast: Buffer[] = [];
  try {
    const health = async () => (await (await fetch(`${server.url}/health`)).json()) as any;
    const level = async () => (await health()).guard.level as string;
    /** Allocates (and touches) memory until use reaches `percent` of the budget. */
    const raiseTo = async (percent: number) => {
      const used = (await health()).guard.memory.used_bytes as number;
      const need = (percent / 100) * budget - used;
      if (need > 0) ballast.push(Buffer.alloc(Math.ceil(need)).fill(1));
    };
    const complete = () =>
      postJson(`${server.url}/v1/completions`, { model: "stories", prompt: "Once", max_tokens: 8 });

    assert.ok(
      await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200, 60_000),
    );
    assert.ok(await waitFor(async () => (await health()).guard.processes.length === 2));
    assert.equal(await level(), "ok");

    await raiseTo(83);
    assert.ok(await waitFor(async () => (await level()) === "warn"), "warn at 83%");
    assert.equal((await complete()).status, 200, "warn still admits");

    await raiseTo(93);
    assert.ok(await waitFor(async () => (await level()) === "shed"), "shed at 93%");
    const shed = await complete();
    assert.equal(shed.status, 503);
    assert.equal(shed.json.error.code, "memory_pressure");
    assert.match(shed.headers.get("retry-after") ?? "", /^\d+$/);
    assert.equal((await fetch(`${server.url}/livez`)).status, 200);
    assert.equal((await fetch(`${server.url}/metrics`)).status, 200);

    await raiseTo(98);
    // The guard stops the largest worker; its memory goes, and its restart is refused.
    assert.ok(
      await waitFor(
        () => server.logs.some((l) => /stopped the largest worker/.test(String(l.msg))),
        10_000,
      ),
    );
    assert.ok(
      await waitFor(() => server.logs.some((l) => l.msg === "model load refused"), 10_000),
      "the restart is refused while use is high",
    );
    // Every worker death was the guard's kill, none the kernel's OOM killer.
    // (A refused load also ends as a "load failed" replica that the supervisor retries.)
    const died = server.logs.filter(
      (l) => l.msg === "engine worker died; restarting" && l.reason !== "load failed",
    );
    const kills = server.logs.filter((l) => l.msg === "killing engine worker");
    assert.ok(died.length >= 1);
    assert.equal(kills.length, died.length);
    for (const l of kills) assert.match(String(l.reason), /reclaim/);

    // Free the memory: use falls, shedding ends, the worker loads again and serves.
    ballast.length = 0;
    gc();
    assert.ok(await waitFor(async () => (await level()) === "ok", 10_000), "resumed");
    assert.ok(
      await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200, 30_000),
      "the worker loaded again",
    );
    assert.equal((await complete()).status, 200);
    const actions = (await health()).guard.recent_actions.map((a: any) => a.action);
    assert.ok(actions.includes("clear_caches") && actions.includes("stop_largest_worker"));
  } finally {
    ballast.length = 0;
    await server.close();
  }
});

test("at reclaim the idle model's real worker is unloaded, and its next request loads it again", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  if (!existsSync("/proc/self/status")) return t.skip("needs Linux /proc to read RSS");
  const budget = budgetNow();
  const server = await startTestServer({
    models: [{ name: "stories", path: modelPath, slots: 1 }],
    engine: { gpu: "cpu", contextSize: 256, threads: 1 },
    guards: { sampleIntervalMs: 50, memoryBudgetBytes: budget, reclaimCooldownMs: 500 },
  });
  const ballast: Buffer[] = [];
  try {
    const health = async () => (await (await fetch(`${server.url}/health`)).json()) as any;
    const complete = () =>
      postJson(`${server.url}/v1/completions`, { model: "stories", prompt: "Once", max_tokens: 8 });
    assert.ok(
      await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200, 60_000),
    );
    assert.equal((await complete()).status, 200);
    const firstPid = (await health()).models[0].replicas[0].pid as number;
    assert.ok(firstPid > 0);

    // Up to 98% of the budget: reclaim. Nothing is running, so the model is unloaded whole.
    const used = (await health()).guard.memory.used_bytes as number;
    ballast.push(Buffer.alloc(Math.ceil(0.98 * budget - used)).fill(1));
    assert.ok(await waitFor(async () => (await health()).models[0].unloaded === true, 10_000));
    const alive = (pid: number) => existsSync(`/proc/${pid}`);
    assert.ok(await waitFor(() => !alive(firstPid), 10_000), "the worker process exited");
    const h = await health();
    assert.ok(h.guard.recent_actions.some((a: any) => a.action === "unload_idle_model"));
    // The monitor's next sample no longer lists a worker.
    assert.ok(
      await waitFor(
        async () => !(await health()).guard.processes.some((p: any) => p.role === "worker"),
      ),
    );
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200, "unloaded is not down");
    assert.ok(!server.logs.some((l) => l.msg === "killing engine worker"), "nothing was killed");

    // Free the memory: the level resumes; the model waits for a request, which loads it.
    ballast.length = 0;
    gc();
    assert.ok(await waitFor(async () => (await health()).guard.level === "ok", 10_000));
    // Freed buffers leave this process's RSS only as their finalizers run: wait until there is
    // room under the 80% warn line for the worker admission will be asked to load (~106 MiB).
    assert.ok(
      await waitFor(async () => {
        gc();
        const m = (await health()).guard.memory;
        return m.used_bytes + 110 * MiB <= 0.8 * m.limit_bytes;
      }, 10_000),
      "room for the worker",
    );
    assert.equal((await health()).models[0].unloaded, true);
    const res = await complete();
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.usage.completion_tokens, 8);
    const after = (await health()).models[0];
    assert.equal(after.unloaded, false);
    assert.ok(after.replicas[0].pid > 0 && after.replicas[0].pid !== firstPid, "a new worker");
    assert.equal(after.replicas[0].restarts, 0, "a reload is not a crash restart");
  } finally {
    ballast.length = 0;
    await server.close();
  }
});
