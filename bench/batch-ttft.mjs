#!/usr/bin/env node
// Interactive time to first token with and without a batch running: one `bulwark serve` on a
// real model; the same open-loop interactive load (evenly spaced streamed chat requests) is run
// three times: alone, while a 500-line batch (POST /v1/files, POST /v1/batches) runs in the
// batch lane, and alone again once the batch has completed (the machine's own noise). Prints
// TTFT p50/p95 of each phase and their ratio (goal: p95 with the batch ≤ 1.2 × without), the
// batch's progress during the load and its completion time, the preemptions, and the machine's
// load average.
//
//   node bench/batch-ttft.mjs [--model PATH] [--slots 4] [--rate 2] [--requests 40]
//                             [--lines 500] [--line-tokens 32] [--max-tokens 16]
//                             [--batch-timeout 600] [--json FILE]
//
// --model defaults to stories260K.gguf in ../shared/models. Bounded: --requests interactive
// requests per phase at --rate per second, and the wait for the batch is at most
// --batch-timeout seconds. Run `npm run build` first. Everything lives in a fresh temporary
// folder, removed at the end; the server listens on free 127.0.0.1 ports and is stopped by PID.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { engineBenchEnv, freePort, stop, waitReady } from "./serve-child.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "bin", "bulwark.js");
const { values: opts } = parseArgs({
  options: {
    model: { type: "string", default: join(root, "..", "shared", "models", "stories260K.gguf") },
    slots: { type: "string", default: "4" },
    rate: { type: "string", default: "2" },
    requests: { type: "string", default: "40" },
    lines: { type: "string", default: "500" },
    "line-tokens": { type: "string", default: "32" },
    "max-tokens": { type: "string", default: "16" },
    "batch-timeout": { type: "string", default: "600" },
    json: { type: "string" },
  },
});
if (!existsSync(opts.model)) {
  console.error(`no model at ${opts.model} (--model PATH)`);
  process.exit(2);
}
const { generateKey } = await import("../dist/src/auth/index.js");
const { percentileSorted } = await import("../dist/src/bench/index.js");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const round = (x) => Math.round(x * 10) / 10;

const dir = mkdtempSync(join(tmpdir(), "bulwark-batch-bench-"));
const key = generateKey().full;
const auth = { authorization: `Bearer ${key}` };
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const child = spawn(
  process.execPath,
  [
    bin,
    "serve",
    "--model",
    `m=${opts.model}`,
    "--port",
    String(port),
    "--admin-port",
    String(await freePort()),
    "--gpu",
    "cpu",
    "--ctx",
    "512",
  ],
  {
    env: {
      ...process.env,
      ...engineBenchEnv(join(dir, "home"), key),
      BULWARK_ENGINE_SLOTS: opts.slots,
      // The interactive load is this bench's only client: no per-IP or per-key limit applies.
      BULWARK_RATE_LIMITS_IP_RPM: "0",
    },
    stdio: ["ignore", "ignore", "pipe"],
  },
);
const loads = [];
const sampler = setInterval(() => loads.push(loadavg()[0]), 1000);

/** One streamed chat request; resolves to its TTFT in ms (first content chunk). */
async function interactive(i) {
  const started = performance.now();
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...auth },
    body: JSON.stringify({
      model: "m",
      messages: [{ role: "user", content: `Tell me story ${i}.` }],
      max_tokens: Number(opts["max-tokens"]),
      temperature: 0,
      stream: true,
    }),
  });
  if (res.status !== 200) throw new Error(`interactive request: ${res.status} ${await res.text()}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let ttft;
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (ttft === undefined && /"content":"[^"]/.test(text)) ttft = performance.now() - started;
  }
  return ttft ?? performance.now() - started;
}

/** The open-loop load: --requests requests, one every 1/--rate s; returns the sorted TTFTs. */
async function load(tag) {
  const n = Number(opts.requests);
  const gap = 1000 / Number(opts.rate);
  const pending = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const due = t0 + i * gap;
    await sleep(Math.max(0, due - performance.now()));
    pending.push(interactive(`${tag}-${i}`));
  }
  const ttfts = (await Promise.all(pending)).sort((a, b) => a - b);
  return { p50: percentileSorted(ttfts, 50), p95: percentileSorted(ttfts, 95), n: ttfts.length };
}

async function api(method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body ? { "content-type": "application/json", ...auth } : auth,
    body: body ? JSON.stringify(body) : undefined,
  });
  return res.json();
}

async function metric(name) {
  const text = await (await fetch(`${base}/metrics`, { headers: auth })).text();
  let sum = 0;
  for (const line of text.split("\n"))
    if (line.startsWith(name)) sum += Number(line.split(" ").at(-1));
  return sum;
}

let result;
try {
  await waitReady(child, port);
  // Warm the worker and its slots before either phase.
  await Promise.all(Array.from({ length: Number(opts.slots) }, (_, i) => interactive(`warm${i}`)));
  const alone = await load("alone");

  const lines = Array.from({ length: Number(opts.lines) }, (_, i) =>
    JSON.stringify({
      custom_id: `line-${i}`,
      method: "POST",
      url: "/v1/chat/completions",
      body: {
        model: "m",
        messages: [{ role: "user", content: `Batch story ${i}.` }],
        max_tokens: Number(opts["line-tokens"]),
        temperature: 0,
      },
    }),
  );
  const form = new FormData();
  form.append("purpose", "batch");
  form.append("file", new Blob([lines.join("\n") + "\n"]), "bench.jsonl");
  const file = await (
    await fetch(`${base}/v1/files`, { method: "POST", body: form, headers: auth })
  ).json();
  const created = await api("POST", "/v1/batches", {
    input_file_id: file.id,
    endpoint: "/v1/chat/completions",
    completion_window: "24h",
  });
  const batchStart = performance.now();
  while ((await api("GET", `/v1/batches/${created.id}`)).request_counts.completed < 1)
    await sleep(50);
  const withBatch = await load("batch");
  const duringLoad = (await api("GET", `/v1/batches/${created.id}`)).request_counts.completed;
  let batch;
  const deadline = Date.now() + Number(opts["batch-timeout"]) * 1000;
  do {
    await sleep(500);
    batch = await api("GET", `/v1/batches/${created.id}`);
  } while (batch.status !== "completed" && Date.now() < deadline);
  const batchSeconds = (performance.now() - batchStart) / 1000;
  // The same load alone once more, after the batch: how much the machine's own noise moves it.
  const aloneAgain = await load("again");
  result = {
    model: opts.model.split("/").at(-1),
    slots: Number(opts.slots),
    rate: Number(opts.rate),
    requests: Number(opts.requests),
    alone: { p50: round(alone.p50), p95: round(alone.p95) },
    aloneAgain: { p50: round(aloneAgain.p50), p95: round(aloneAgain.p95) },
    withBatch: { p50: round(withBatch.p50), p95: round(withBatch.p95) },
    ratioP95: Math.round((withBatch.p95 / alone.p95) * 100) / 100,
    // Against the worse of the two runs alone (the noise floor of this machine).
    ratioP95Worst: Math.round((withBatch.p95 / Math.max(alone.p95, aloneAgain.p95)) * 100) / 100,
    batch: {
      lines: Number(opts.lines),
      status: batch.status,
      completed: batch.request_counts.completed,
      completedDuringLoad: duringLoad,
      seconds: round(batchSeconds),
      preemptions: await metric("bulwark_batch_preemptions_total"),
    },
    cpus: cpus().length,
    load1: { min: round(Math.min(...loads)), max: round(Math.max(...loads)) },
  };
} finally {
  clearInterval(sampler);
  await stop(child);
  rmSync(dir, { recursive: true, force: true });
}

console.log(`| phase | TTFT p50 (ms) | TTFT p95 (ms) |`);
console.log(`| --- | --- | --- |`);
console.log(`| interactive alone | ${result.alone.p50} | ${result.alone.p95} |`);
console.log(
  `| with a ${result.batch.lines}-line batch | ${result.withBatch.p50} | ${result.withBatch.p95} |`,
);
console.log(
  `| interactive alone, after the batch | ${result.aloneAgain.p50} | ${result.aloneAgain.p95} |`,
);
console.log(
  `\np95 ratio ${result.ratioP95} to the first run alone, ${result.ratioP95Worst} to the worse ` +
    `run alone (goal ≤ 1.2); batch ${result.batch.status} ` +
    `${result.batch.completed}/${result.batch.lines} in ${result.batch.seconds} s ` +
    `(${result.batch.completedDuringLoad} done when the load ended), ` +
    `${result.batch.preemptions} preemptions; ${result.cpus} cores, ` +
    `load average ${result.load1.min}–${result.load1.max}`,
);
if (opts.json) writeFileSync(opts.json, JSON.stringify(result, null, 2));
