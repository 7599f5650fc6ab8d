/**
 * models[].routing on two local replicas (fake engine, one slot each, whose slots keep the
 * prompt's tokens and report the shared part as cached): with prefix-affinity a prompt goes
 * back to the replica that served its prefix, and its tokens come from that replica's cache;
 * with least-outstanding it goes to the first idle replica, whatever it holds.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fakeEngine, postJson, startTestServer, waitFor } from "../helpers/server.js";

const prefixA = "Alpha ".repeat(40);
const prefixB = "Bravo ".repeat(40);

async function cachedOnReturn(routing: "least-outstanding" | "prefix-affinity") {
  const engine = fakeEngine({ tokenDelayMs: 10 });
  const server = await startTestServer(
    {
      models: [{ name: "fake", path: "/models/fake.gguf", replicas: 2, slots: 1, routing }],
      cache: { enabled: false },
    },
    { replicaFactory: engine.factory },
  );
  try {
    const ready = () => engine.replicas.filter((r) => r.state() === "ready").length === 2;
    assert.ok(await waitFor(async () => ready(), 5_000));
    const url = `${server.url}/v1/completions`;
    const body = (prompt: string, max_tokens: number) => ({ model: "fake", prompt, max_tokens });
    // A holds the first replica's only slot while B arrives: B goes to the other replica.
    const a = postJson(url, body(`${prefixA}one`, 30));
    assert.ok(await waitFor(async () => engine.replicas.some((r) => r.activeJobs() > 0), 2_000));
    const b = await postJson(url, body(`${prefixB}one`, 2));
    assert.equal((await a).status, 200);
    assert.equal(b.status, 200);
    // Both replicas idle: B's prefix comes back.
    const again = await postJson(url, body(`${prefixB}two`, 2));
    assert.equal(again.status, 200);
    return again.json.usage.prompt_tokens_details.cached_tokens as number;
  } finally {
    await server.close();
  }
}

test("prefix-affinity sends a prompt back to the replica whose cache holds its prefix", async () => {
  const cached = await cachedOnReturn("prefix-affinity");
  assert.ok(cached >= prefixB.length, `cached ${cached} of a ${prefixB.length}-token prefix`);
});

test("least-outstanding takes the first idle replica, whatever its cache holds", async () => {
  const cached = await cachedOnReturn("least-outstanding");
  assert.ok(cached < 10, `cached ${cached}`);
});
