#!/usr/bin/env node
// Measures what the access checks cost per request: the same short completions against the fake
// engine with auth off, and with auth, limits, the access log and usage rows on.
// Usage: npm run build && node bench/access-overhead.mjs [requests=2000] [concurrency=8]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";

const root = new URL("..", import.meta.url).pathname;
const { loadConfig } = await import(join(root, "dist/src/config/index.js"));
const { startServer } = await import(join(root, "dist/src/main.js"));
const { createLogger } = await import(join(root, "dist/src/observability/index.js"));
const { FakeReplica } = await import(join(root, "dist/src/engine/fake/fake-replica.js"));
const { generateKey } = await import(join(root, "dist/src/auth/index.js"));

const total = Number(process.argv[2] ?? 2000);
const concurrency = Number(process.argv[3] ?? 8);

async function run(auth) {
  const home = mkdtempSync(join(tmpdir(), "bulwark-bench-"));
  const config = loadConfig({
    env: {},
    overrides: {
      home,
      server: { port: 0, adminPort: 0 },
      log: { level: "warn" },
      security: { auth },
      rateLimits: { ipRpm: 0 },
      models: [{ name: "fake", path: "/fake.gguf" }],
    },
  });
  const adminKey = generateKey().full;
  const controls = { tokenDelayMs: 0, firstTokenDelayMs: 0, failureRate: 0 };
  const server = await startServer(config, {
    logger: createLogger({
      level: "warn",
      destination: new Writable({ write: (_c, _e, d) => d() }),
    }),
    replicaFactory: (spec) => new FakeReplica(spec, controls),
    adminKey: auth ? adminKey : undefined,
  });
  let key;
  if (auth) {
    const res = await fetch(`${server.adminUrl}/admin/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        name: "bench",
        role: "user",
        rpm: 1e9,
        tpm: 1e12,
        concurrency: 1000,
        dailyBudget: 1e12,
      }),
    });
    key = (await res.json()).key;
  }
  while ((await fetch(`${server.url}/readyz`)).status !== 200)
    await new Promise((r) => setTimeout(r, 20));
  const headers = {
    "content-type": "application/json",
    ...(key ? { authorization: `Bearer ${key}` } : {}),
  };
  const body = JSON.stringify({ model: "fake", prompt: "hello", max_tokens: 2 });
  const latencies = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        const t = performance.now();
        const res = await fetch(`${server.url}/v1/completions`, { method: "POST", headers, body });
        await res.text();
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await server.close();
  rmSync(home, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  return {
    rps: Math.round(latencies.length / seconds),
    p50: latencies[Math.floor(latencies.length / 2)].toFixed(2),
    p99: latencies[Math.floor(latencies.length * 0.99)].toFixed(2),
  };
}

await run(false); // warm-up
const off = await run(false);
const on = await run(true);
console.log(`requests: ${total}, concurrency: ${concurrency}`);
console.log(`auth off: ${off.rps} req/s, p50 ${off.p50} ms, p99 ${off.p99} ms`);
console.log(
  `auth on : ${on.rps} req/s, p50 ${on.p50} ms, p99 ${on.p99} ms (key, limits, access log, usage)`,
);
