import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { inflateRawSync } from "node:zlib";
import { Redis } from "ioredis";
import { buildTestGateway, type TestGateway } from "../../helpers/gateway.js";
import { fakeEngine } from "../../helpers/server.js";
import { redisMissing, startRedis, type TestRedis } from "../../helpers/redis.js";
import { RedisCacheTier, ResponseCache, type CacheRedisPort } from "../../../src/cache/index.js";
import { Keyring, isSealed } from "../../../src/crypto/index.js";
import { cacheTestSettings } from "../../helpers/cache.js";
import type { ReplicaSpec } from "../../../src/engine/index.js";

// The shared tier against a real redis-server of the test's own (test/helpers/redis.ts: its own
// port and directory, stopped by its PID): what gateway A stores, gateway B answers; with Redis gone both still
// answer, as misses.
const missing = redisMissing();
if (missing) console.log(`# skipped: ${missing}`);

let redis: TestRedis | undefined;
const clients: Redis[] = [];
const gateways: TestGateway[] = [];
let generations = 0;
const tierErrors: string[] = [];
const TIMEOUT_MS = 300;

/** A Redis connection as the state backend makes one: bounded commands, no offline queue. */
function redisPort(client: Redis): CacheRedisPort {
  return { run: (fn) => fn(client), key: (name) => `bulwark-test:${name}` };
}

const settings = cacheTestSettings;

async function gatewayOverRedis(): Promise<TestGateway> {
  const client = new Redis(redis!.url, {
    commandTimeout: TIMEOUT_MS,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 200,
  });
  client.on("error", () => undefined);
  await new Promise((r) => client.once("ready", r));
  clients.push(client);
  const engine = fakeEngine({ tokenDelayMs: 1 });
  const factory = (spec: ReplicaSpec) => {
    const replica = engine.factory(spec);
    const generate = replica.generate.bind(replica);
    replica.generate = (job, listener) => {
      generations++;
      generate(job, listener);
    };
    return replica;
  };
  const gateway = await buildTestGateway(
    { models: [{ name: "fake", path: "/models/fake.gguf" }] },
    {
      replicaFactory: factory,
      deps: {
        cache: {
          cache: new ResponseCache({ maxBytes: 1 << 20, maxEntryBytes: 1 << 18 }),
          digests: { digest: () => "sha-fake" },
          shared: new RedisCacheTier(redisPort(client), {
            timeoutMs: TIMEOUT_MS,
            onError: (op, err) => tierErrors.push(`${op}: ${err.message}`),
          }),
          settings,
        },
      },
    },
  );
  gateways.push(gateway);
  return gateway;
}

before(async () => {
  if (missing) return;
  redis = await startRedis();
  await gatewayOverRedis();
  await gatewayOverRedis();
});

after(async () => {
  for (const g of gateways) await g.close();
  for (const c of clients) c.disconnect();
  await redis?.close();
});

let n = 0;
const fresh = () => ({
  model: "fake",
  messages: [{ role: "user", content: `shared question ${++n}` }],
  max_tokens: 5,
  temperature: 0,
});
const chat = (g: TestGateway, body: unknown, headers: Record<string, string> = {}) =>
  g.request("POST", "/v1/chat/completions", body, headers);
const outcome = (r: { headers: Headers }) => r.headers.get("x-bulwark-cache");
/** The shared store is written after the answer; wait until Redis holds the entry. */
const stored = async (count: number) => {
  for (let i = 0; i < 100; i++) {
    const keys = await clients[0]!.keys("bulwark-test:rcache:*");
    if (keys.length >= count) return keys;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("the entry never reached Redis");
};

test("an entry stored through gateway A hits through gateway B, compressed, with its TTL", async (t) => {
  if (missing) return t.skip(missing);
  const [a, b] = gateways as [TestGateway, TestGateway];
  const body = fresh();
  const first = await chat(a, body, { "x-bulwark-cache": "ttl=600" });
  assert.equal(outcome(first), "miss");
  const [key] = await stored(1);
  const before = generations;
  const second = await chat(b, body);
  assert.equal(outcome(second), "hit");
  assert.equal(generations, before, "B ran no generation");
  assert.equal(second.json.choices[0].message.content, first.json.choices[0].message.content);
  const ttl = await clients[0]!.pttl(key!);
  assert.ok(ttl > 0 && ttl <= 600_000, `ttl ${ttl}`);
  const raw = await clients[0]!.getBuffer(key!);
  assert.ok(raw && !raw.toString("latin1").includes('"kind"'), "the value is compressed");
  const value = JSON.parse(inflateRawSync(raw).toString("utf8"));
  assert.equal(value.kind, "generation");
  assert.equal(value.pieces.join(""), first.json.choices[0].message.content);
  // B keeps it in its own tier now.
  assert.equal(outcome(await chat(b, body)), "hit");
  assert.deepEqual(tierErrors, []);
});

test("clearing the shared tier by namespace and by model digest", async (t) => {
  if (missing) return t.skip(missing);
  const tier = new RedisCacheTier(redisPort(clients[0]!), { timeoutMs: TIMEOUT_MS });
  await tier.set(
    "ns:team|sha-x|chat|1",
    { kind: "embeddings", vectors: [[1]], promptTokens: 1 },
    60_000,
  );
  await tier.set(
    "ns:other|sha-x|chat|2",
    { kind: "embeddings", vectors: [[1]], promptTokens: 1 },
    60_000,
  );
  await tier.set(
    "ns:other|sha-y|chat|3",
    { kind: "embeddings", vectors: [[1]], promptTokens: 1 },
    60_000,
  );
  assert.equal(await tier.clear({ tenant: "ns:team" }), 1);
  assert.equal(await tier.clear({ digest: "sha-y" }), 1);
  assert.ok((await tier.get("ns:other|sha-x|chat|2"))?.value.kind === "embeddings");
  assert.equal(await tier.get("ns:team|sha-x|chat|1"), undefined);
});

test("with a data key, values are sealed and bound to their entry; without it, or with another key, a miss", async (t) => {
  if (missing) return t.skip(missing);
  const ring = (hex: string) => Keyring.fromEnv({ BULWARK_DATA_KEY: hex.repeat(64) })!;
  const errors: string[] = [];
  const sealed = new RedisCacheTier(redisPort(clients[0]!), {
    timeoutMs: TIMEOUT_MS,
    keyring: ring("a"),
    onError: (op, err) => errors.push(`${op}: ${err.message}`),
  });
  const value = { kind: "generation", pieces: ["secret answer"], promptTokens: 3 } as const;
  assert.ok(await sealed.set("ns:k|sha|chat|sealed", value as never, 60_000));
  const raw = (await clients[0]!.getBuffer("bulwark-test:rcache:ns:k|sha|chat|sealed"))!;
  assert.ok(isSealed(raw));
  assert.equal(raw.includes("secret answer"), false);
  assert.deepEqual((await sealed.get("ns:k|sha|chat|sealed"))?.value, value);
  // The same value moved under another entry does not open.
  await clients[0]!.set("bulwark-test:rcache:ns:k|sha|chat|moved", raw, "PX", 60_000);
  assert.equal(await sealed.get("ns:k|sha|chat|moved"), undefined);
  // A gateway with another key, or none, gets a miss, never the value.
  const other = new RedisCacheTier(redisPort(clients[0]!), {
    timeoutMs: TIMEOUT_MS,
    keyring: ring("b"),
  });
  assert.equal(await other.get("ns:k|sha|chat|sealed"), undefined);
  const plain = new RedisCacheTier(redisPort(clients[0]!), { timeoutMs: TIMEOUT_MS });
  assert.equal(await plain.get("ns:k|sha|chat|sealed"), undefined);
  // A value stored in clear is a miss for a gateway that seals.
  assert.ok(await plain.set("ns:k|sha|chat|clear", value as never, 60_000));
  assert.equal(await sealed.get("ns:k|sha|chat|clear"), undefined);
  // After a rotation, the new key with the old one as previous still opens the old values.
  const rotated = new RedisCacheTier(redisPort(clients[0]!), {
    timeoutMs: TIMEOUT_MS,
    keyring: new Keyring(ring("c").current, [ring("a").current]),
  });
  assert.deepEqual((await rotated.get("ns:k|sha|chat|sealed"))?.value, value);
  assert.ok(errors.length >= 1, "the refused values were reported");
});

test("with Redis killed, requests still succeed as misses", async (t) => {
  if (missing) return t.skip(missing);
  const [a, b] = gateways as [TestGateway, TestGateway];
  await redis!.kill();
  const body = fresh();
  for (const g of [a, b]) {
    const r = await chat(g, body);
    assert.equal(r.status, 200, r.text);
    assert.ok(["miss", "hit"].includes(outcome(r)!));
  }
  // A's own tier still answers what A stored before.
  assert.equal(outcome(await chat(a, body)), "hit");
  assert.ok(tierErrors.length > 0, "the failures were reported");
  const tier = new RedisCacheTier(redisPort(clients[0]!), { timeoutMs: TIMEOUT_MS });
  assert.equal(await tier.get("anything"), undefined);
  assert.equal(
    await tier.set("anything", { kind: "embeddings", vectors: [], promptTokens: 0 }, 1000),
    false,
  );
  assert.equal(await tier.clear(), undefined);
});
