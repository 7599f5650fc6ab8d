/**
 * A gateway whose model is served by remote backends only: two `bulwark serve` processes (the
 * built-in demo model, one llama.cpp thread each, so the two fit this machine's two cores) and
 * an OpenAI-compatible stub standing for vLLM. Load spreads over all three; SIGKILL of one
 * backend under a bounded load loses no request that had not started; the backend, started
 * again on its port, is let back in by its half-open probe and used again.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey } from "../../../src/auth/index.js";
import { spawnServe, waitReady, type ServeProcess } from "../../helpers/serve-process.js";
import { startTestServer, waitFor, type TestServer } from "../../helpers/server.js";
import { startOpenAiStub, type OpenAiStub } from "../../helpers/openai-stub.js";

const adminKey = generateKey().full;
const homes: string[] = [];
const backends: { run: ServeProcess; url: string; port: number }[] = [];
let stub: OpenAiStub;
let gateway: TestServer;

async function startBackend(port = 0): Promise<{ run: ServeProcess; url: string; port: number }> {
  const home = mkdtempSync(join(tmpdir(), "bulwark-backend-"));
  homes.push(home);
  const run = spawnServe(
    ["--port", String(port), "--gpu", "cpu", "--threads", "1", "--ctx", "512", "--slots", "4"],
    { ...process.env, BULWARK_HOME: home, BULWARK_ADMIN_KEY: adminKey },
  );
  const url = await run.url;
  assert.ok(await waitReady(url, 120_000), `backend ${url} became ready`);
  return { run, url, port: Number(new URL(url).port) };
}

before(async () => {
  backends.push(await startBackend(), await startBackend());
  stub = await startOpenAiStub();
  const common = { slots: 4, healthIntervalMs: 200, failures: 2, cooldownMs: 300 };
  gateway = await startTestServer({
    models: [
      {
        name: "demo",
        backends: [
          {
            ...common,
            name: "a",
            url: `${backends[0]!.url}/v1`,
            model: "bulwark-demo",
            apiKey: adminKey,
          },
          {
            ...common,
            name: "b",
            url: `${backends[1]!.url}/v1`,
            model: "bulwark-demo",
            apiKey: adminKey,
          },
          { ...common, name: "vllm", url: stub.url, model: "stub-model", apiKey: "stub-key" },
        ],
      },
    ],
    scheduler: { queueTimeoutMs: 30_000 },
  });
  assert.ok(
    await waitFor(async () => backendStates().every((b) => b.state === "healthy"), 30_000),
    "every backend passed its first health check",
  );
});

after(async () => {
  await gateway?.close();
  await stub?.close();
  for (const b of backends) {
    b.run.child.kill("SIGTERM");
    await b.run.exit;
  }
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});

function backendStates(): {
  name: string;
  state: string;
  inFlight: number;
  latencyMs: number | null;
}[] {
  const model = gateway.models.list().find((e) => e.model.name === "demo")!.model;
  return model.status().backends ?? [];
}

async function chat(content: string, extra: Record<string, unknown> = {}) {
  const res = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "demo",
      messages: [{ role: "user", content }],
      max_tokens: 8,
      temperature: 1,
      ...extra,
    }),
  });
  return { status: res.status, json: (await res.json()) as any };
}

async function okCount(backend: string): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  const line = text
    .split("\n")
    .find(
      (l) =>
        l.startsWith("bulwark_backend_requests_total{") &&
        l.includes(`backend="${backend}"`) &&
        l.includes('outcome="ok"'),
    );
  return line ? Number(line.split(" ").pop()) : 0;
}

test("load spreads over the three backends; usage comes from the backend; /health shows each", async () => {
  const results = await Promise.all(
    Array.from({ length: 36 }, (_, i) => chat(`Tell me story ${i}`)),
  );
  for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.json));
  for (const name of ["a", "b", "vllm"]) {
    assert.ok((await okCount(name)) > 0, `backend ${name} served some requests`);
  }
  const fromStub = results.filter(
    (r) => r.json.choices[0].message.content === "Hello from the stub",
  );
  assert.ok(fromStub.length > 0);
  // The stub's usage (11 prompt tokens, 3 of them cached) is what the client is told.
  assert.equal(fromStub[0]!.json.usage.prompt_tokens, 11);
  assert.equal(fromStub[0]!.json.usage.prompt_tokens_details.cached_tokens, 3);
  assert.ok(stub.authorizations.includes("Bearer stub-key"), "the backend's key is sent");
  assert.equal(stub.requests[0]!.model, "stub-model");
  const health = (await (await fetch(`${gateway.url}/health`)).json()) as any;
  const listed = health.models[0].backends;
  assert.deepEqual(
    listed.map((b: any) => b.name),
    ["a", "b", "vllm"],
  );
  for (const b of listed) {
    assert.equal(b.state, "healthy");
    assert.equal(typeof b.latencyMs, "number");
    assert.equal(typeof b.inFlight, "number");
  }
  assert.doesNotMatch(JSON.stringify(health), /stub-key|Bearer/);
});

test("SIGKILL of a backend under load: requests not started finish elsewhere; the half-open probe brings it back", async () => {
  const total = 240;
  const concurrency = 6;
  let next = 0;
  let done = 0;
  let killed = false;
  const statuses: number[] = [];
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const r = await chat(`Request ${i} of the kill run`);
      statuses.push(r.status);
      if (r.status !== 200) errors.push(r.json);
      done++;
      if (!killed && done >= 40) {
        killed = true;
        backends[0]!.run.child.kill("SIGKILL");
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const ok = statuses.filter((s) => s === 200).length;
  assert.equal(statuses.length, total);
  assert.ok(
    ok / total >= 0.999,
    `${ok} of ${total} succeeded: ${JSON.stringify(errors.slice(0, 3))}`,
  );
  assert.ok(
    await waitFor(
      async () => backendStates().find((b) => b.name === "a")!.state !== "healthy",
      10_000,
    ),
    "the dead backend is out of service",
  );
  const before = await okCount("a");

  // The backend comes back on the same port: the half-open probe lets it in again.
  await backends[0]!.run.exit;
  backends[0] = await startBackend(backends[0]!.port);
  assert.ok(
    await waitFor(
      async () => backendStates().find((b) => b.name === "a")!.state === "healthy",
      30_000,
    ),
    `backend a is back in service: ${JSON.stringify(backendStates())}`,
  );
  const again = await Promise.all(Array.from({ length: 24 }, (_, i) => chat(`After ${i}`)));
  for (const r of again) assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.ok((await okCount("a")) > before, "the returned backend serves again");
  const ejections = (await (await fetch(`${gateway.url}/metrics`)).text())
    .split("\n")
    .find((l) => l.startsWith("bulwark_backend_ejections_total{") && l.includes('backend="a"'));
  assert.ok(ejections && Number(ejections.split(" ").pop()) >= 1, String(ejections));
});
