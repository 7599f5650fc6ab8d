#!/usr/bin/env node
// One thread budget, two ways to spend it: one worker whose llama.cpp context runs T threads,
// against T workers of one thread each (the slots split between them), on the same model, with
// the same `bulwark bench` load (random prompts, --ignore-eos, closed loop). Servers alternate
// between repeats so that drift of a shared machine hits both alike; the load average is
// printed with every run.
//
//   npm run build
//   node bench/thread-plan.mjs --model NAME=PATH [--threads 2] [--slots 8] [--ctx 512]
//        [--concurrency 1,8] [--num-prompts 16] [--input-len 32] [--output-len 64]
//        [--temperature 0.8] [--repeat 2] [--timeout 60]
//
// Extra environment for the servers (for example UV_THREADPOOL_SIZE) is taken from this
// process's environment, which `bulwark serve` and its workers inherit.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { engineBenchEnv, freePort, stop, waitReady } from "./serve-child.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    model: { type: "string" },
    threads: { type: "string", default: "2" },
    slots: { type: "string", default: "8" },
    ctx: { type: "string", default: "512" },
    concurrency: { type: "string", default: "1,8" },
    "num-prompts": { type: "string", default: "16" },
    "input-len": { type: "string", default: "32" },
    "output-len": { type: "string", default: "64" },
    temperature: { type: "string", default: "0.8" },
    repeat: { type: "string", default: "2" },
    // Per-request limit of the bench, in s: two threads on a loaded 2-core machine can collapse.
    timeout: { type: "string", default: "60" },
  },
});
if (!values.model) {
  console.error("usage: node bench/thread-plan.mjs --model NAME=PATH [...] (see the header)");
  process.exit(2);
}
const [name, path] = values.model.includes("=")
  ? values.model.split(/=(.*)/s)
  : ["model", values.model];
const T = Number(values.threads);
const slots = Number(values.slots);
const work = mkdtempSync(join(tmpdir(), "bulwark-threads-"));
const { generateKey } = await import(join(root, "dist", "src", "auth", "index.js"));
const apiKey = generateKey().full;

async function start(replicas, threads, slotsEach, port) {
  const child = spawn(
    process.execPath,
    [
      join(root, "bin", "bulwark.js"),
      ...["serve", "--model", `${name}=${path}`, "--port", String(port), "--admin-port", "0"],
      ...["--replicas", String(replicas), "--threads", String(threads)],
      ...["--slots", String(slotsEach), "--ctx", values.ctx, "--gpu", "cpu", "--log-level", "warn"],
    ],
    {
      stdio: ["ignore", "ignore", "pipe"],
      cwd: root,
      env: {
        ...process.env,
        ...engineBenchEnv(mkdtempSync(join(work, "home-")), apiKey),
      },
    },
  );
  return waitReady(child, port);
}

function bench(port, concurrency, seed) {
  const out = join(work, `r-${Date.now()}.json`);
  const run = spawnSync(
    process.execPath,
    [
      join(root, "bin", "bulwark.js"),
      ...["bench", "--url", `http://127.0.0.1:${port}`, "--model", name, "--dataset", "random"],
      ...["--input-len", values["input-len"], "--output-len", values["output-len"]],
      ...["--ignore-eos", "--temperature", values.temperature, "--seed", String(seed)],
      ...["--concurrency", String(concurrency), "--num-prompts", values["num-prompts"]],
      ...[
        "--warmup",
        String(Math.min(concurrency, 4)),
        "--no-progress",
        "--timeout",
        values.timeout,
      ],
      ...["--output", out],
    ],
    { encoding: "utf8", env: { ...process.env, OPENAI_API_KEY: apiKey } },
  );
  if (run.status !== 0) throw new Error(`bench failed: ${run.stderr}`);
  return JSON.parse(readFileSync(out, "utf8")).metrics;
}

const plans = [
  { label: `1 worker × ${T} threads, ${slots} slots`, replicas: 1, threads: T, slots },
  {
    label: `${T} workers × 1 thread, ${Math.max(1, Math.floor(slots / T))} slots each`,
    replicas: T,
    threads: 1,
    slots: Math.max(1, Math.floor(slots / T)),
  },
];
const concurrencies = values.concurrency.split(",").map(Number);
console.log(
  `thread plan: ${name}, budget ${T} threads, ${values["num-prompts"]} prompts of ` +
    `${values["input-len"]} → ${values["output-len"]} tokens, --ignore-eos, temperature ` +
    `${values.temperature}, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? "4 (default)"}`,
);
console.log(
  "\n| repeat | plan | concurrency | output tok/s | TTFT p50 ms | TPOT p50 ms | failed | load average (1 min) |",
);
console.log("|---|---|---|---|---|---|---|---|");
const results = new Map();
for (let r = 0; r < Number(values.repeat); r++) {
  for (const plan of r % 2 === 0 ? plans : [...plans].reverse()) {
    const port = await freePort();
    const child = await start(plan.replicas, plan.threads, plan.slots, port);
    try {
      for (const c of concurrencies) {
        const m = bench(port, c, r + 1);
        const load = loadavg()[0].toFixed(1);
        const tok = m.outputThroughput;
        const key = `${plan.label}|${c}`;
        results.set(key, [...(results.get(key) ?? []), tok]);
        console.log(
          `| ${r + 1} | ${plan.label} | ${c} | ${tok.toFixed(1)} | ${m.ttftMs.median.toFixed(0)} | ` +
            `${m.tpotMs.median.toFixed(1)} | ${m.failed} | ${load} |`,
        );
      }
    } finally {
      await stop(child);
    }
  }
}
console.log("\n| plan | concurrency | output tok/s, each repeat |\n|---|---|---|");
for (const [key, v] of results) {
  const [label, c] = key.split("|");
  console.log(`| ${label} | ${c} | ${v.map((x) => x.toFixed(1)).join(", ")} |`);
}
rmSync(work, { recursive: true, force: true });
