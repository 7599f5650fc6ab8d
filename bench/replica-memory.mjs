#!/usr/bin/env node
// Measures the memory of 1 and of 2 replicas of one model: each worker maps the GGUF read-only
// (llama.cpp's mmap), so the weights' pages sit once in the page cache and are shared. RSS counts
// shared pages in every process that touches them; PSS divides them between the sharers, so the
// sum of PSS is what the replicas really cost together.
//
//   node bench/replica-memory.mjs --model PATH [--replicas 1,2] [--ctx 2048] [--slots 4]
//
// Run `npm run build` first. Prints a markdown table; nothing is written elsewhere.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { generateKey } = await import(join(root, "dist/src/auth/index.js"));
const { values } = parseArgs({
  options: {
    model: { type: "string" },
    replicas: { type: "string", default: "1,2" },
    ctx: { type: "string", default: "2048" },
    slots: { type: "string", default: "4" },
    port: { type: "string", default: "18093" },
  },
});
if (!values.model) {
  console.error("usage: node bench/replica-memory.mjs --model PATH [--replicas 1,2]");
  process.exit(2);
}

/** Rss, Pss and shared/private splits of one process, in bytes, from /proc/PID/smaps_rollup. */
function memoryOf(pid) {
  const out = {};
  for (const line of readFileSync(`/proc/${pid}/smaps_rollup`, "utf8").split("\n")) {
    const m = /^(\w+):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]] = Number(m[2]) * 1024;
  }
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measure(replicas) {
  const port = values.port;
  // A fresh home whose first admin key is ours: auth stays on, as in production.
  const home = mkdtempSync(join(tmpdir(), "bulwark-replica-memory-"));
  const key = generateKey().full;
  const auth = { authorization: `Bearer ${key}` };
  const child = spawn(
    process.execPath,
    [
      join(root, "bin/bulwark.js"),
      "serve",
      "--model",
      `bench=${values.model}`,
      "--port",
      port,
      "--replicas",
      String(replicas),
      "--threads",
      "1",
      "--ctx",
      values.ctx,
      "--slots",
      values.slots,
      "--admin-port",
      "0",
      "--log-level",
      "warn",
    ],
    {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, BULWARK_HOME: home, BULWARK_ADMIN_KEY: key },
    },
  );
  const base = `http://127.0.0.1:${port}`;
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error("the server did not become ready in 120 s");
      const ready = await fetch(`${base}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      await sleep(250);
    }
    // Touch every replica's weights: one short completion per replica, sent together.
    await Promise.all(
      Array.from({ length: replicas * 2 }, () =>
        fetch(`${base}/v1/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", ...auth },
          body: JSON.stringify({ model: "bench", prompt: "Once upon a time", max_tokens: 16 }),
        }).then((r) => r.text()),
      ),
    );
    const health = await fetch(`${base}/health`, { headers: auth }).then((r) => r.json());
    const workers = health.models[0].replicas.map((w) => w.pid).filter(Boolean);
    const gateway = memoryOf(child.pid);
    const per = workers.map(memoryOf);
    const sum = (key) => per.reduce((n, m) => n + (m[key] ?? 0), 0);
    return {
      replicas,
      workerRss: sum("Rss"),
      workerPss: sum("Pss"),
      workerPrivate: sum("Private_Clean") + sum("Private_Dirty"),
      workerShared: sum("Shared_Clean") + sum("Shared_Dirty"),
      gatewayRss: gateway.Rss,
    };
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    rmSync(home, { recursive: true, force: true });
  }
}

const mib = (b) => (b / 1048576).toFixed(1);
const rows = [];
for (const n of values.replicas.split(",").map(Number)) rows.push(await measure(n));
const model = values.model;
const size = statSync(model).size;
console.log(`model: ${model} (${mib(size)} MiB file), ctx ${values.ctx}, ${values.slots} slots\n`);
console.log(
  "| replicas | workers' RSS MiB | workers' PSS MiB | shared MiB | private MiB | gateway RSS MiB |",
);
console.log("| ---: | ---: | ---: | ---: | ---: | ---: |");
for (const r of rows) {
  console.log(
    `| ${r.replicas} | ${mib(r.workerRss)} | ${mib(r.workerPss)} | ${mib(r.workerShared)} | ${mib(r.workerPrivate)} | ${mib(r.gatewayRss)} |`,
  );
}
