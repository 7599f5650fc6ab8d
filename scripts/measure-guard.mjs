// Measures what docs/operations.md quotes: a real worker's RSS next to the load estimate of
// its model, the cost of one /metrics scrape, and a refused load's message.
// Usage: npm run build && node scripts/measure-guard.mjs [path/to/model.gguf]
import { existsSync } from "node:fs";
import { loadConfig } from "../dist/src/config/index.js";
import { startServer } from "../dist/src/main.js";
import { createLogger } from "../dist/src/observability/index.js";
import { ToolkitMemoryEstimator } from "../dist/src/guards/index.js";

// ../shared/models next to the repository, or one level further up from a worktree.
const path =
  process.argv[2] ??
  ["../../shared/models/stories260K.gguf", "../../../shared/models/stories260K.gguf"]
    .map((p) => new URL(p, import.meta.url).pathname)
    .find((p) => existsSync(p));
if (!path) throw new Error("stories260K.gguf not found; pass a GGUF path");
const MiB = 1024 * 1024;
const start = (guards) =>
  startServer(
    loadConfig({
      env: {},
      overrides: {
        server: { port: 0 },
        log: { level: "silent" },
        models: [{ name: "m", path, slots: 4 }],
        engine: { gpu: "cpu", contextSize: 512, threads: 1, restartBackoffMs: 5000 },
        guards: { sampleIntervalMs: 200, ...guards },
      },
    }),
    { logger: createLogger({ level: "silent" }) },
  );
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = await start({});
for (let i = 0; i < 600 && (await fetch(`${server.url}/readyz`)).status !== 200; i++)
  await sleep(100);
await fetch(`${server.url}/v1/completions`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ model: "m", prompt: "Once upon a time", max_tokens: 64 }),
});
await sleep(1500);
const health = await (await fetch(`${server.url}/health`)).json();
for (const p of health.guard.processes) {
  console.log(`${p.role} ${p.replica ?? ""} RSS ${(p.rss_bytes / MiB).toFixed(1)} MiB`);
}
const estimate = await new ToolkitMemoryEstimator(0).estimate({
  id: "m#0",
  modelName: "m",
  modelPath: path,
  slots: 4,
  threads: 1,
  contextSize: 512,
  batchSize: 512,
  gpu: "cpu",
  chatWrapper: "auto",
});
console.log(
  `estimate without overhead: weights ${(estimate.weightsBytes / MiB).toFixed(2)} MiB, ` +
    `KV cache ${(estimate.kvCacheBytes / MiB).toFixed(2)} MiB`,
);
const t0 = performance.now();
for (let i = 0; i < 50; i++) await (await fetch(`${server.url}/metrics`)).text();
console.log(`/metrics: ${((performance.now() - t0) / 50).toFixed(1)} ms per scrape (50 scrapes)`);
await server.close();

const refused = await start({ warnPercent: 1 });
let error;
for (let i = 0; i < 100 && !error; i++) {
  await sleep(100);
  error = (await (await fetch(`${refused.url}/health`)).json()).models[0].replicas[0].lastError;
}
console.log(`refused load: ${error}`);
await refused.close();
