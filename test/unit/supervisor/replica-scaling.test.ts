import { test } from "node:test";
import assert from "node:assert/strict";
import { BulwarkError } from "../../../src/errors/index.js";
import { ReplicaManager } from "../../../src/supervisor/index.js";
import type { EngineReplica, ReplicaSpec } from "../../../src/engine/index.js";
import { FakeReplica } from "../../../src/engine/fake/fake-replica.js";
import { silentLogger } from "../../../src/observability/index.js";
import { waitFor } from "../../helpers/server.js";

const spec = {
  modelName: "m",
  modelPath: "/m.gguf",
  slots: 1,
  threads: 1,
  contextSize: 64,
  batchSize: 64,
  gpu: "cpu" as const,
  chatWrapper: "auto" as const,
};
const supervision = {
  heartbeatTimeoutMs: 60_000,
  progressTimeoutMs: 60_000,
  restartBackoffMs: 10,
  restartBackoffMaxMs: 10,
  stableAfterMs: 60_000,
  watchdogIntervalMs: 1000,
};
// Slow tokens: a job stays running while the test looks at it.
const controls = { tokenDelayMs: 20, firstTokenDelayMs: 0, failureRate: 0 };

/** A manager over fake replicas; `refuse(id)` says whether that replica's load is refused. */
function setup(refuse: (id: string) => boolean = () => false) {
  const events = { ready: [] as string[], gone: [] as string[], refused: [] as string[] };
  const factory = (s: ReplicaSpec): EngineReplica => {
    const replica = new FakeReplica(s, controls);
    if (refuse(s.id)) {
      replica.start = () =>
        Promise.reject(new BulwarkError("model_load_refused_memory", `no room for ${s.id}`));
    }
    return replica;
  };
  const manager = new ReplicaManager(
    spec,
    1,
    factory,
    supervision,
    {
      ready: (r) => events.ready.push(r.id),
      gone: (r) => events.gone.push(r.id),
      growRefused: (err) => events.refused.push(err.message),
    },
    silentLogger(),
  );
  return { manager, events };
}

test("grow adds a replica, shrink drains one away; ids are never reused", async () => {
  const { manager, events } = setup();
  await manager.start();
  assert.deepEqual(manager.counts(), { replicas: 1, starting: 0, parked: 0 });
  assert.equal(manager.shrink(1000), undefined, "the last ready replica is never shrunk");

  const added = manager.grow();
  assert.equal(added, "m#1.1");
  assert.ok(await waitFor(() => events.ready.includes("m#1.1")));
  assert.deepEqual(manager.counts(), { replicas: 2, starting: 0, parked: 0 });

  // Both idle: the newest goes.
  assert.equal(manager.shrink(1000), "m#1.1");
  assert.equal(manager.counts().replicas, 1, "a retiring replica no longer counts");
  assert.ok(await waitFor(() => manager.status().length === 1), "its position is removed");
  assert.ok(events.gone.includes("m#1.1"));
  assert.equal(manager.status()[0]!.id, "m#0.1");

  assert.equal(manager.grow(), "m#2.1", "a new position, not the old index again");
  assert.ok(await waitFor(() => events.ready.includes("m#2.1")));
  await manager.stop(0);
  assert.equal(manager.grow(), undefined, "nothing grows once stopping");
});

test("shrink takes the least busy replica", async () => {
  const { manager, events } = setup();
  await manager.start();
  manager.grow();
  assert.ok(await waitFor(() => events.ready.length === 2));
  const busy = manager.replicas().find((r) => r.id === "m#1.1")!;
  busy.generate(
    {
      id: "j",
      prompt: { tokens: [1, 2, 3], stopStrings: [], stopTokens: [] },
      sampling: { temperature: 0 },
      maxTokens: 1000,
      stop: [],
      ignoreEos: true,
    } as never,
    { onEvent: () => undefined, onError: () => undefined },
  );
  assert.ok(await waitFor(() => busy.activeJobs() === 1));
  assert.equal(manager.shrink(1000), "m#0.1", "the idle one, though older");
  busy.abort("j");
  await manager.stop(0);
});

test("a grown replica refused by memory admission is removed, not restarted", async () => {
  const { manager, events } = setup((id) => id !== "m#0.1");
  await manager.start();
  assert.equal(manager.grow(), "m#1.1");
  assert.ok(await waitFor(() => events.refused.length === 1));
  assert.deepEqual(events.refused, ["no room for m#1.1"]);
  assert.deepEqual(manager.counts(), { replicas: 1, starting: 0, parked: 0 });
  assert.equal(manager.status().length, 1);
  // No restart with backoff: the position is gone for good.
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(manager.status().length, 1);
  assert.deepEqual(events.ready, ["m#0.1"]);
  await manager.stop(0);
});

test("a position waiting to restart is the first to go on shrink", async () => {
  const { manager, events } = setup();
  await manager.start();
  manager.grow();
  assert.ok(await waitFor(() => events.ready.length === 2));
  (manager.replicas().find((r) => r.id === "m#0.1") as FakeReplica).crash("test crash");
  assert.equal(manager.shrink(1000), "m#0.1", "the dead one, not the ready one");
  assert.deepEqual(manager.counts(), { replicas: 1, starting: 0, parked: 0 });
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(
    manager.status().map((s) => s.id),
    ["m#1.1"],
    "its restart was cancelled",
  );
  await manager.stop(0);
});
