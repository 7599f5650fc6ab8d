/**
 * The response cache across a fleet: two gateways sharing one real redis-server (started by the
 * test on a free port, stopped by its PID). An answer stored through one is a hit through the
 * other; with Redis killed, both still answer, as misses.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { call, chatBody } from "../../helpers/access.js";
import { startFleet, type Fleet } from "../../helpers/cluster.js";
import { redisMissing, startRedis, type TestRedis } from "../../helpers/redis.js";
import { waitFor } from "../../helpers/server.js";

const missing = redisMissing();
let redis: TestRedis;
let fleet: Fleet;
let dir: string;
let key: string;

const url = (i: number) => `${fleet.servers[i]!.url}/v1/chat/completions`;
const outcome = (r: { headers: Headers }) => r.headers.get("x-bulwark-cache");

before(async () => {
  if (missing) return;
  redis = await startRedis();
  // The fake engine ignores the file; the cache hashes it for the model's digest.
  dir = mkdtempSync(join(tmpdir(), "bulwark-fleet-cache-"));
  const model = join(dir, "model.gguf");
  writeFileSync(model, "stand-in for a model file");
  fleet = await startFleet(2, redis.url, {
    models: [{ name: "fake", path: model }],
    state: { commandTimeoutMs: 1_000 },
  });
  key = (await fleet.createKey(0, { name: "cache", role: "user" })).key;
  // Until the key reached the other gateway, and the model's digest is known on both.
  for (const i of [0, 1]) {
    assert.ok(
      await waitFor(async () => {
        const r = await call(url(i), key, "POST", chatBody("probe", { temperature: 0 }), {
          "x-bulwark-cache": "no-store",
        });
        return r.status === 200 && outcome(r) === "miss";
      }),
      `server ${i} ready`,
    );
  }
});
after(async () => {
  await fleet?.close();
  await redis?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("an entry stored through gateway A hits through gateway B", { skip: missing }, async () => {
  const body = chatBody("fleet question", { temperature: 0 });
  const a = await call(url(0), key, "POST", body);
  assert.equal(outcome(a), "miss");
  let b;
  assert.ok(
    await waitFor(async () => {
      b = await call(url(1), key, "POST", body);
      return outcome(b) === "hit";
    }, 5_000),
    "B found A's answer in Redis",
  );
  assert.equal(b!.json.choices[0].message.content, a.json.choices[0].message.content);
  const metrics = await call(`${fleet.servers[1]!.url}/metrics`, fleet.adminKey);
  assert.match(metrics.text, /^bulwark_response_cache_hits_total\{kind="exact"\} [1-9]/m);
  // Clearing through A's admin API reaches the shared tier.
  const cleared = await call(`${fleet.servers[0]!.adminUrl}/admin/cache`, fleet.adminKey, "DELETE");
  assert.ok(cleared.json.sharedRemoved >= 1, cleared.text);
});

test("Redis killed: requests still succeed, as misses", { skip: missing }, async () => {
  await redis.kill();
  for (const i of [0, 1]) {
    const r = await call(url(i), key, "POST", chatBody(`after the crash ${i}`, { temperature: 0 }));
    assert.equal(r.status, 200, r.text);
    assert.equal(outcome(r), "miss");
  }
  const metrics = await call(`${fleet.servers[0]!.url}/metrics`, fleet.adminKey);
  assert.equal(metrics.status, 200);
});
