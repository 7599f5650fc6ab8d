// The response cache's own cost on the request path: building a request's key (canonical JSON
// of its output-affecting fields, sha256) and looking it up in the in-process tier, for hits
// and misses, with the tier holding --entries answers. Run after `npm run build`:
//   node bench/cache-lookup.mjs [--entries 10000] [--lookups 20000] [--prompt-chars 2000]
//        [--redis redis://127.0.0.1:6379]
// With --redis, the same for the shared tier: a get of a stored answer (one round trip, PTTL
// in the same pipeline, inflate and JSON) from that Redis, one lookup at a time.
import { parseArgs } from "node:util";
import { loadavg } from "node:os";
import { Redis } from "ioredis";
import { RedisCacheTier, ResponseCache, cacheKey } from "../dist/src/cache/index.js";

const { values } = parseArgs({
  options: {
    entries: { type: "string", default: "10000" },
    lookups: { type: "string", default: "20000" },
    "prompt-chars": { type: "string", default: "2000" },
    redis: { type: "string" },
  },
});
const entries = Number(values.entries);
const lookups = Number(values.lookups);
const chars = Number(values["prompt-chars"]);

const filler = "The quick brown fox jumps over the lazy dog. ".repeat(Math.ceil(chars / 45));
const body = (i) => ({
  model: "stories",
  messages: [
    { role: "system", content: "You are a careful assistant." },
    { role: "user", content: `${i} ${filler}`.slice(0, chars) },
  ],
  max_tokens: 64,
  temperature: 0,
  stream: true,
});
const answer = {
  kind: "generation",
  pieces: Array.from({ length: 64 }, (_, i) => `word${i} `),
  finishReason: "length",
  promptTokens: 500,
  completionTokens: 64,
};
const cache = new ResponseCache({ maxBytes: 1024 * 1024 * 1024, maxEntryBytes: 1024 * 1024 });
const key = (i) =>
  cacheKey({
    tenant: { id: "key:k1" },
    modelDigest: "d".repeat(64),
    endpoint: "chat",
    body: body(i),
  });
for (let i = 0; i < entries; i++) {
  cache.set(key(i), answer, { model: "stories", tenant: "key:k1", ttlMs: 3_600_000 });
}

function measure(hit) {
  const times = [];
  for (let n = 0; n < lookups; n++) {
    const i = hit ? n % entries : entries + n;
    const b = body(i); // the parsed request exists before the cache is asked
    const t0 = process.hrtime.bigint();
    const k = cacheKey({
      tenant: { id: "key:k1" },
      modelDigest: "d".repeat(64),
      endpoint: "chat",
      body: b,
    });
    const found = cache.get(k);
    const t1 = process.hrtime.bigint();
    if (hit !== (found !== undefined)) throw new Error("unexpected lookup result");
    times.push(Number(t1 - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const at = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  return { p50: at(0.5), p99: at(0.99), max: times.at(-1) };
}

const before = loadavg()
  .map((x) => x.toFixed(2))
  .join(" ");
const hit = measure(true);
const miss = measure(false);
const f = (v) => v.toFixed(4);
console.log(
  `entries ${entries}, lookups ${lookups} each, prompt ${chars} chars, load average ${before}\n` +
    `| lookup | p50 ms | p99 ms | max ms |\n|---|---|---|---|\n` +
    `| hit | ${f(hit.p50)} | ${f(hit.p99)} | ${f(hit.max)} |\n` +
    `| miss | ${f(miss.p50)} | ${f(miss.p99)} | ${f(miss.max)} |`,
);

if (values.redis) {
  const client = new Redis(values.redis, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  await new Promise((r) => client.once("ready", r));
  const tier = new RedisCacheTier(
    { run: (fn) => fn(client), key: (name) => `bench-cache-lookup:${name}` },
    { timeoutMs: 1_000 },
  );
  const keys = Array.from({ length: 1000 }, (_, i) => key(i));
  for (const k of keys) await tier.set(k, answer, 600_000);
  const times = [];
  for (let n = 0; n < lookups; n++) {
    const t0 = process.hrtime.bigint();
    const got = await tier.get(keys[n % keys.length]);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (!got) throw new Error("a stored answer was not found");
  }
  times.sort((a, b) => a - b);
  const at = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  console.log(
    `| redis get (hit) | ${f(at(0.5))} | ${f(at(0.99))} | ${f(times.at(-1))} |  (load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")})`,
  );
  let cursor = "0";
  do {
    const [next, found] = await client.scan(cursor, "MATCH", "bench-cache-lookup:*", "COUNT", 500);
    cursor = next;
    if (found.length > 0) await client.unlink(...found);
  } while (cursor !== "0");
  client.disconnect();
}
