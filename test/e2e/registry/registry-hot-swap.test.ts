import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ReplicaSpec } from "../../../src/engine/index.js";
import type { FakeReplica } from "../../../src/engine/fake/fake-replica.js";
import { fakeEngine, postJson, startTestServer, waitFor } from "../../helpers/server.js";
import { tempRegistry } from "../../helpers/registry.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";
import { sha256File } from "../../../src/registry/index.js";
import type { MemorySource } from "../../../src/guards/index.js";
import { generateKey } from "../../../src/auth/index.js";

const model = storiesModel();
const plenty: MemorySource = {
  read: async () => ({ usedBytes: 2 ** 30, limitBytes: 64 * 2 ** 30, source: "test" }),
};

/** Fake engine whose replicas of version 2 take `loadMs` to become ready, like a real load. */
function slowLoadingEngine(loadMs: number) {
  const engine = fakeEngine({ tokenDelayMs: 3 });
  const versionOf = (r: FakeReplica) =>
    (r as unknown as { spec: ReplicaSpec }).spec.modelPath.split("/").at(-2);
  const factory = (spec: ReplicaSpec) => {
    const replica = engine.factory(spec);
    if (spec.modelPath.includes(`${join("stories", "2")}/`)) {
      const start = replica.start.bind(replica);
      replica.start = () => new Promise((r) => setTimeout(r, loadMs)).then(start);
    }
    return replica;
  };
  return { ...engine, factory, versionOf };
}

/** Clients that send requests back to back until stopped; every status is recorded. */
function traffic(url: string, clients: number) {
  let running = true;
  const results: { status: number; code?: string; tokens?: number }[] = [];
  const loops = Array.from({ length: clients }, async (_, i) => {
    for (let n = 0; running && n < 2_000; n++) {
      const res = await postJson(`${url}/v1/completions`, {
        model: "stories",
        prompt: `client ${i} request ${n}`,
        max_tokens: 12,
        stream: n % 2 === 0,
      });
      const streamError = /"error"/.test(res.text) && res.status === 200;
      results.push({
        status: streamError ? 599 : res.status,
        code: res.json?.error?.code,
        tokens: res.json?.usage?.completion_tokens,
      });
    }
  });
  return {
    results,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

test("promote during load: no request fails; new requests move to the new version", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const r = tempRegistry(0);
  t.after(r.cleanup);
  await r.registry.import(model, { name: "stories" });
  await r.registry.import(model, { name: "stories" });
  const engine = slowLoadingEngine(300);
  const server = await startTestServer(
    {
      models: [{ name: "stories", path: "registry:stories", slots: 2 }],
      registry: { dir: r.registry.layout.dir, watchIntervalMs: 50, backupsToKeep: 0 },
      server: { drainTimeoutMs: 5_000 },
    },
    { replicaFactory: engine.factory, memorySource: plenty },
  );
  t.after(() => server.close());
  assert.ok(await waitFor(() => engine.replicas[0]?.state() === "ready"));
  const load = traffic(server.url, 4);
  assert.ok(await waitFor(() => load.results.length >= 20));

  // The CLI's promote: another process writes the index; the server reads it.
  r.registry.promote("stories:2");
  assert.ok(
    await waitFor(() => server.registry?.served()[0]?.version === "2"),
    JSON.stringify(
      server.logs.filter((l) => l.component === "registry" || Number(l.level) >= 40).slice(-5),
    ),
  );
  const atSwap = load.results.length;
  const [oldReplica, newReplica] = engine.replicas;
  assert.equal(engine.versionOf(oldReplica!), "1");
  assert.equal(engine.versionOf(newReplica!), "2");
  assert.ok(await waitFor(() => oldReplica!.state() === "stopped"), "old workers stop");
  const oldTokens = oldReplica!.stats().generatedTokens;
  assert.ok(await waitFor(() => load.results.length >= atSwap + 20));

  // And back: rollback swaps to version 1 again, still under load.
  r.registry.rollback("stories");
  assert.ok(await waitFor(() => server.registry?.served()[0]?.version === "1"));
  assert.ok(await waitFor(() => newReplica!.state() === "stopped"));
  await load.stop();

  const failed = load.results.filter((x) => x.status !== 200);
  assert.deepEqual(failed, [], `${failed.length} of ${load.results.length} requests failed`);
  assert.ok(load.results.every((x) => x.tokens === undefined || x.tokens === 12));
  assert.equal(oldReplica!.stats().generatedTokens, oldTokens, "nothing ran on stopped workers");
  assert.ok(newReplica!.stats().generatedTokens > 0, "version 2 served requests");
  const health = (await (await fetch(`${server.url}/health`)).json()) as any;
  assert.equal(health.models[0].version, "1");
  const msgs = server.logs.map((l) => l.msg);
  assert.ok(msgs.includes("new version serving; draining the old one"));
  assert.ok(msgs.includes("old version stopped"));
});

const MiB = 2 ** 20;

/**
 * Two versions of stories in a registry, served as `stories` (following latest) with a memory
 * reading the test sets (`memory.used`, of 4 GiB) and an admin key for the admin API.
 */
async function startTwoVersions(t: TestContext) {
  const r = tempRegistry(0);
  t.after(r.cleanup);
  await r.registry.import(model!, { name: "stories" });
  await r.registry.import(model!, { name: "stories" });
  const memory = { used: 1024 * MiB };
  const memorySource: MemorySource = {
    read: async () => ({ usedBytes: memory.used, limitBytes: 4096 * MiB, source: "test" }),
  };
  const engine = fakeEngine();
  // The admin listener asks for an admin key even with auth off on the public API.
  const adminKey = generateKey().full;
  const server = await startTestServer(
    {
      models: [{ name: "stories", path: "registry:stories" }],
      registry: { dir: r.registry.layout.dir, watchIntervalMs: 50 },
    },
    { replicaFactory: engine.factory, memorySource, adminKey },
  );
  t.after(() => server.close());
  const admin = (path: string, body: object = {}) =>
    postJson(`${server.adminUrl}/admin/models/stories/${path}`, body, {
      authorization: `Bearer ${adminKey}`,
    });
  return { r, memory, engine, server, admin };
}

test("a promoted version that does not fit in memory is refused; the old one keeps serving", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const { r, memory, engine, server, admin } = await startTwoVersions(t);
  assert.ok(await waitFor(() => engine.replicas[0]?.state() === "ready"));
  // Under the warn threshold (80%: nothing is shed), without room for a second copy of the
  // model: a replica of stories260K is estimated at about 107 MiB, most of it the process.
  memory.used = 3200 * MiB;
  const refusal =
    /^Loading a replica of model stories:2 needs an estimated [\d.]+ MiB \(weights [\d.]+ MiB, KV cache [\d.]+ MiB, process [\d.]+ MiB\); 3200\.0 MiB is in use, which would make [\d.]+ MiB of the 4096\.0 MiB limit \([\d.]+%\), over the warn threshold of 80% \(3276\.8 MiB\)\.$/;

  // The admin API runs the check before `latest` moves: 503 with Retry-After, nothing changes.
  const res = await admin("promote", { version: "2" });
  assert.equal(res.status, 503, res.text);
  assert.equal(res.headers.get("retry-after"), "30");
  assert.deepEqual(Object.keys(res.json.error), ["message", "type", "param", "code"]);
  assert.equal(res.json.error.code, "model_load_refused_memory");
  assert.equal(res.json.error.type, "service_unavailable");
  assert.match(res.json.error.message, refusal);
  assert.equal(r.registry.latest("stories"), "1");

  // The CLI's promote moves `latest` at once; the server's check before the swap refuses it.
  r.registry.promote("stories:2");
  assert.ok(
    await waitFor(() => server.logs.some((l) => l.msg === "not switching to the new version")),
  );
  const line = server.logs.find((l) => l.msg === "not switching to the new version")!;
  assert.match(String(line.err), refusal);
  assert.equal(server.registry?.served()[0]?.version, "1");
  assert.equal(engine.replicas.length, 1, "no worker of version 2 was started");
  const done = await postJson(`${server.url}/v1/completions`, {
    model: "stories",
    prompt: "a",
    max_tokens: 3,
  });
  assert.equal(done.status, 200);
});

test("a rollback to a version that does not fit in memory is refused before latest moves", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const { r, memory, server, admin } = await startTwoVersions(t);
  // Version 2 fits now: promoted, and served once the swap is done.
  assert.equal((await admin("promote", { version: "2" })).status, 200);
  assert.ok(await waitFor(() => server.registry?.served()[0]?.version === "2"));

  memory.used = 3200 * MiB;
  const res = await admin("rollback");
  assert.equal(res.status, 503, res.text);
  assert.equal(res.json.error.code, "model_load_refused_memory");
  assert.match(res.json.error.message, /^Loading a replica of model stories:1 needs an estimated/);
  assert.equal(res.headers.get("retry-after"), "30");
  assert.equal(r.registry.latest("stories"), "2", "latest did not move");

  memory.used = 1024 * MiB;
  const ok = await admin("rollback");
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(ok.json, { name: "stories", latest: "1" });
});

test("the periodic verification finds a byte the fingerprint misses and repairs the file", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const r = tempRegistry(1);
  t.after(r.cleanup);
  // 3 MiB: a middle byte outside the first and last MiB that the load-time fingerprint reads.
  const big = join(r.dir, "big.gguf");
  writeFileSync(big, Buffer.concat([readFileSync(model), Buffer.alloc(2 * 1024 * 1024)]));
  await r.registry.import(big, { name: "stories" });
  const alerts: string[] = [];
  const engine = fakeEngine();
  let started = 0;
  const server = await startTestServer(
    {
      models: [{ name: "stories", path: "registry:stories" }],
      registry: { dir: r.registry.layout.dir, verifyIntervalMs: 100 },
    },
    {
      replicaFactory: (spec) => {
        started++;
        return engine.factory(spec);
      },
      memorySource: plenty,
      onRegistryAlert: (a) => alerts.push(a.kind),
    },
  );
  t.after(() => server.close());
  assert.ok(await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200));
  const initial = started;
  const file = r.registry.layout.modelFile("stories", "1");
  const data = readFileSync(file);
  data[1_600_000] = data[1_600_000]! ^ 0xff;
  writeFileSync(file, data);
  assert.ok(await waitFor(() => alerts.includes("model_restored")), alerts.join(","));
  assert.deepEqual(alerts.slice(0, 3), ["verify_failed", "model_corrupted", "model_restored"]);
  assert.equal(await sha256File(file), r.registry.resolve("stories:1").manifest.sha256);
  // The damage and the repair reach the alerts (log, webhook, metrics) as model_integrity:
  // firing on the failed check (again as the label moves to model_corrupted), then resolved.
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  const events = (state: string) =>
    Number(
      new RegExp(
        `^bulwark_alert_events_total\\{alert="model_integrity",state="${state}"\\} (\\d+)$`,
        "m",
      ).exec(metrics)?.[1] ?? 0,
    );
  assert.ok(events("firing") >= 1, metrics);
  assert.equal(events("resolved"), 1);
  // The running workers mapped the damaged copy: fresh ones start on the repaired file.
  assert.ok(
    await waitFor(() =>
      server.logs.some((l) => l.msg === "reloading the model from its repaired file"),
    ),
  );
  assert.ok(await waitFor(() => started > initial), `replicas started: ${started}`);
  const res = await postJson(`${server.url}/v1/completions`, {
    model: "stories",
    prompt: "a",
    max_tokens: 3,
  });
  assert.equal(res.status, 200);
});
