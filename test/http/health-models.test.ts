import { test } from "node:test";
import assert from "node:assert/strict";
import { fakeEngine, postJson, startTestServer, waitFor } from "../helpers/server.js";
import { buildTestGateway } from "../helpers/gateway.js";
import type { EngineReplica, ModelInfo, ReplicaSpec } from "../../src/engine/index.js";
import { FakeReplica } from "../../src/engine/fake/fake-replica.js";
import { Authenticator, KeyStore } from "../../src/auth/index.js";
import { openDatabase } from "../../src/store/index.js";

test("/readyz is 503 while a model loads and 200 once it is ready; /livez is always 200", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const factory = (spec: ReplicaSpec): EngineReplica => {
    const replica = new FakeReplica(spec, {
      tokenDelayMs: 0,
      firstTokenDelayMs: 0,
      failureRate: 0,
    });
    const start = replica.start.bind(replica);
    replica.start = async (): Promise<ModelInfo> => {
      await gate;
      return start();
    };
    return replica;
  };
  const server = await buildTestGateway(
    { models: [{ name: "slow", path: "/m/slow.gguf" }] },
    { replicaFactory: factory, waitReady: false },
  );
  try {
    assert.equal((await server.request("GET", "/livez")).status, 200);
    const loading = await server.request("GET", "/readyz");
    assert.equal(loading.status, 503);
    assert.deepEqual(loading.json, { status: "not_ready", models_not_ready: ["slow"] });
    release();
    assert.ok(await waitFor(async () => (await server.request("GET", "/readyz")).status === 200));
  } finally {
    await server.close();
  }
});

test("/readyz tells a caller without a key its status only; a key that reads models sees its own", async () => {
  // Two models that never finish loading.
  const factory = (spec: ReplicaSpec): EngineReplica => {
    const replica = new FakeReplica(spec, {
      tokenDelayMs: 0,
      firstTokenDelayMs: 0,
      failureRate: 0,
    });
    replica.start = () => new Promise<ModelInfo>(() => undefined);
    return replica;
  };
  const db = openDatabase(":memory:");
  const keys = new KeyStore(db);
  const admin = keys.create({ name: "ops", role: "admin" }).key;
  const limited = keys.create({ name: "team", role: "user", models: ["beta"] }).key;
  const failures: string[] = [];
  const server = await buildTestGateway(
    {
      models: [
        { name: "alpha", path: "/m/alpha.gguf" },
        { name: "beta", path: "/m/beta.gguf" },
      ],
    },
    {
      replicaFactory: factory,
      waitReady: false,
      deps: {
        auth: {
          authenticator: new Authenticator(keys),
          enabled: true,
          defaultPermission: "inference",
          onFailure: (_ip, err) => failures.push(err.code),
        },
      },
    },
  );
  try {
    const anonymous = await server.request("GET", "/readyz");
    assert.equal(anonymous.status, 503);
    assert.deepEqual(anonymous.json, { status: "not_ready" });
    assert.doesNotMatch(anonymous.text, /alpha|beta/);
    const byAdmin = await server.request("GET", "/readyz", undefined, {
      authorization: `Bearer ${admin}`,
    });
    assert.equal(byAdmin.status, 503);
    assert.deepEqual(byAdmin.json, { status: "not_ready", models_not_ready: ["alpha", "beta"] });
    const byLimited = await server.request("GET", "/readyz", undefined, {
      authorization: `Bearer ${limited}`,
    });
    assert.deepEqual(byLimited.json, { status: "not_ready", models_not_ready: ["beta"] });
    // A wrong key is refused and counted, so the probe is no oracle for guessing keys.
    const wrong = await server.request("GET", "/readyz", undefined, {
      authorization: "Bearer bwk_000000000000_nonsense",
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error.code, "invalid_api_key");
    assert.deepEqual(failures, ["invalid_api_key"]);
  } finally {
    await server.close();
    db.close();
  }
});

test("/health reports workers, slots, queue and load time; /v1/models shows names, never paths", async () => {
  const engine = fakeEngine();
  const server = await buildTestGateway(
    { models: [{ name: "alpha", path: "/secret/dir/alpha.gguf", slots: 3, replicas: 2 }] },
    { engine },
  );
  try {
    await waitFor(() => engine.replicas.filter((r) => r.state() === "ready").length === 2);
    const health = (await server.request("GET", "/health")).json;
    assert.equal(health.status, "ok");
    const model = health.models[0];
    assert.equal(model.name, "alpha");
    assert.equal(model.replicas.length, 2);
    assert.deepEqual(model.slots, { busy: 0, total: 6 });
    assert.deepEqual(model.queue, { waiting: 0, limit: 64 });
    assert.equal(typeof model.loadMs, "number");
    const { text } = await server.request("GET", "/v1/models");
    assert.doesNotMatch(text, /secret|\.gguf/);
    const body = JSON.parse(text);
    assert.equal(body.object, "list");
    const entry = body.data[0];
    for (const key of ["id", "object", "created", "owned_by", "root"]) assert.ok(key in entry, key);
    assert.equal(entry.id, "alpha");
    assert.equal(entry.object, "model");
    const one = await server.request("GET", "/v1/models/alpha");
    assert.equal(one.json.id, "alpha");
    assert.equal((await server.request("GET", "/v1/models/beta")).status, 404);
  } finally {
    await server.close();
  }
});

test("one log line per request with id, method, path, status, model, tokens, ttft and duration", async () => {
  const engine = fakeEngine();
  // A real listener: the line's status (200, or 499 for a client gone) is read from the socket's
  // end, which inject() does not model for a streamed reply.
  const server = await startTestServer(
    { models: [{ name: "m", path: "/m.gguf" }] },
    { replicaFactory: engine.factory },
  );
  try {
    const res = await postJson(
      `${server.url}/v1/chat/completions`,
      { model: "m", messages: [{ role: "user", content: "hi" }], max_tokens: 4, stream: true },
      { "x-request-id": "client-abc" },
    );
    const id = res.headers.get("x-request-id");
    assert.ok(id);
    await waitFor(() => server.logs.some((l) => l.reqId === id));
    const lines = server.logs.filter((l) => l.reqId === id);
    assert.equal(lines.length, 1);
    const line = lines[0]!;
    assert.equal(line.method, "POST");
    assert.equal(line.path, "/v1/chat/completions");
    assert.equal(line.status, 200);
    assert.equal(line.model, "m");
    assert.equal(line.completionTokens, 4);
    assert.equal(typeof line.promptTokens, "number");
    assert.equal(typeof line.ttftMs, "number");
    assert.equal(typeof line.durationMs, "number");
    assert.equal(line.clientRequestId, "client-abc");
  } finally {
    await server.close();
  }
});
