#!/usr/bin/env node
// Where an engine worker's time goes, by measurement. For each model and concurrency it starts
// `bulwark serve` (one replica, --threads, --slots) with the worker's Node flags set through
// BULWARK_ENGINE_WORKER_NODE_OPTIONS: --cpu-prof (a V8 profile of the worker's main thread) and
// --import of bench/worker-probe.mjs (counts of calls into node-llama-cpp's native addon, the
// time of each llama.cpp decodeBatch and sampleToken, the tokens of each batch, IPC messages by
// type). It drives the server with `bulwark bench` (random prompts, --ignore-eos, closed loop),
// stops it so that the worker writes its profile and probe, and prints per generated token and
// per decode step: native calls, IPC messages, decode time against wall time, the batch sizes,
// the CPU time of each worker thread, and the profile's top functions (bench/profile-summary.mjs).
//
//   npm run build
//   node bench/worker-breakdown.mjs --model NAME=PATH [--model NAME=PATH ...]
//        [--concurrency 1,8] [--threads 1] [--slots 8] [--ctx 512] [--num-prompts 16]
//        [--input-len 32] [--output-len 64] [--temperature 0.8] [--keep DIR] [--markdown FILE]
//
// The profile and probe cover the whole worker run (model load, the bench's warm-up requests,
// the measured requests); the bench's own figures cover the measured requests. --keep DIR keeps
// the profiles and probe files there (default: a temporary directory, removed at the end).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { engineBenchEnv, freePort, stop, waitReady } from "./serve-child.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    model: { type: "string", multiple: true, default: [] },
    concurrency: { type: "string", default: "1,8" },
    threads: { type: "string", default: "1" },
    slots: { type: "string", default: "8" },
    ctx: { type: "string", default: "512" },
    "num-prompts": { type: "string", default: "16" },
    "input-len": { type: "string", default: "32" },
    "output-len": { type: "string", default: "64" },
    temperature: { type: "string", default: "0.8" },
    keep: { type: "string" },
    markdown: { type: "string" },
  },
});
if (values.model.length === 0) {
  console.error("usage: node bench/worker-breakdown.mjs --model NAME=PATH [...] (see the header)");
  process.exit(2);
}
const work = values.keep ?? mkdtempSync(join(tmpdir(), "bulwark-breakdown-"));
mkdirSync(work, { recursive: true });
const { generateKey } = await import(join(root, "dist", "src", "auth", "index.js"));
const apiKey = generateKey().full;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const probe = pathToFileURL(join(root, "bench", "worker-probe.mjs")).href;

async function startServe(name, path, port, dir) {
  const child = spawn(
    process.execPath,
    [
      join(root, "bin", "bulwark.js"),
      ...["serve", "--model", `${name}=${path}`, "--port", String(port), "--admin-port", "0"],
      ...["--replicas", "1", "--threads", values.threads, "--slots", values.slots],
      ...["--ctx", values.ctx, "--gpu", "cpu", "--log-level", "warn"],
    ],
    {
      stdio: ["ignore", "ignore", "pipe"],
      cwd: root,
      env: {
        ...process.env,
        ...engineBenchEnv(join(dir, "home"), apiKey),
        BULWARK_ENGINE_WORKER_NODE_OPTIONS: [
          "--cpu-prof",
          `--cpu-prof-dir=${dir}`,
          `--import=${probe}`,
        ].join(","),
        BULWARK_PROBE_OUT: join(dir, "probe"),
      },
    },
  );
  return waitReady(child, port);
}

function bench(url, name, concurrency, out) {
  const run = spawnSync(
    process.execPath,
    [
      join(root, "bin", "bulwark.js"),
      ...["bench", "--url", url, "--model", name, "--dataset", "random"],
      ...["--input-len", values["input-len"], "--output-len", values["output-len"]],
      ...["--ignore-eos", "--temperature", values.temperature, "--seed", "1"],
      ...["--concurrency", String(concurrency), "--num-prompts", values["num-prompts"]],
      ...["--warmup", String(Math.min(concurrency, 4)), "--no-progress", "--timeout", "120"],
      ...["--output", out],
    ],
    { encoding: "utf8", env: { ...process.env, OPENAI_API_KEY: apiKey } },
  );
  if (run.status !== 0) throw new Error(`bench failed: ${run.stderr}`);
  return JSON.parse(readFileSync(out, "utf8")).metrics;
}

const sum = (v) => v.reduce((a, b) => a + b, 0);
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? 0 : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const f1 = (x) => x.toFixed(1);
const f2 = (x) => x.toFixed(2);

/** The figures of one run, from the worker's probe file and profile. */
function analyse(dir, concurrency) {
  // node-llama-cpp checks its binary in a child of the worker, which inherits the flags and
  // writes a probe and a profile too: the worker's are the ones that saw generated tokens.
  const probes = readdirSync(dir)
    .filter((f) => f.startsWith("probe-") && f.endsWith(".json"))
    .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")));
  const p = probes.sort((a, b) => b.generatedTokens - a.generatedTokens)[0];
  // V8 names a profile CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile.
  const profileFile = readdirSync(dir).find(
    (f) => f.endsWith(".cpuprofile") && f.split(".")[3] === String(p?.pid),
  );
  if (!p || !profileFile) throw new Error(`the worker left no probe or profile in ${dir}`);
  const tokens = p.generatedTokens;
  const steps = p.steps;
  // Generation steps: batches of at most one token per slot (no prompt in them).
  const slots = Number(values.slots);
  const gen = steps.filter((s) => s.tokens <= slots);
  // Wall time of a step: from one decode's start to the next one's, inside a burst of steps
  // (a gap over 1 s is the bench between runs, not a step).
  const intervals = [];
  for (let i = 1; i < steps.length; i++) {
    const gap = steps[i].start - steps[i - 1].start;
    if (gap < 1000)
      intervals.push({ wall: gap, decode: steps[i - 1].ms, tokens: steps[i - 1].tokens });
  }
  const genIntervals = intervals.filter((x) => x.tokens <= slots);
  const histogram = {};
  for (const s of gen) histogram[s.tokens] = (histogram[s.tokens] ?? 0) + 1;
  // llama.cpp's decode time by batch size: what batching saves per token inside llama.cpp.
  const bySize = {};
  for (const s of gen) (bySize[s.tokens] ??= []).push(s.ms);
  const mean = (v) => sum(v) / Math.max(1, v.length);
  const mainThread = (p.threads ?? []).find((t) => t.tid === p.pid);
  const otherThreads = (p.threads ?? []).filter((t) => t.tid !== p.pid);
  const summary = spawnSync(
    process.execPath,
    [join(root, "bench", "profile-summary.mjs"), join(dir, profileFile), "--top", "12"],
    { encoding: "utf8" },
  ).stdout;
  const busy = Number(/([\d.]+) s busy/.exec(summary)?.[1] ?? NaN);
  const sampled = Number(/([\d.]+) s sampled/.exec(summary)?.[1] ?? NaN);
  const nativeCalls = sum(Object.values(p.calls));
  const ipcMessages = sum(Object.values(p.ipc));
  return {
    concurrency,
    tokens,
    steps: steps.length,
    genSteps: gen.length,
    tokensPerGenStep: sum(gen.map((s) => s.tokens)) / Math.max(1, gen.length),
    histogram,
    decodeMsPerGenStep: median(genIntervals.map((x) => x.decode)),
    wallMsPerGenStep: median(genIntervals.map((x) => x.wall)),
    decodeMeanMs: mean(genIntervals.map((x) => x.decode)),
    wallMeanMs: mean(genIntervals.map((x) => x.wall)),
    decodeBySize: Object.entries(bySize).map(([k, v]) => [k, median(v), median(v) / Number(k)]),
    sampleMsPerGenStep: p.sampling.totalMs / Math.max(1, gen.length),
    mainCpuS: mainThread?.cpuS ?? NaN,
    otherCpuS: sum(otherThreads.map((t) => t.cpuS)),
    decodeShare:
      sum(genIntervals.map((x) => x.decode)) / Math.max(1e-9, sum(genIntervals.map((x) => x.wall))),
    sampleMs: p.sampling.totalMs / Math.max(1, p.sampling.count),
    samplesPerToken: p.sampling.count / Math.max(1, tokens),
    nativePerToken: nativeCalls / Math.max(1, tokens),
    calls: Object.entries(p.calls)
      .map(([k, n]) => [k, n / Math.max(1, tokens)])
      .filter(([, r]) => r >= 0.01)
      .sort((a, b) => b[1] - a[1]),
    ipcPerToken: ipcMessages / Math.max(1, tokens),
    ipc: p.ipc,
    jsBusyMsPerToken: (busy * 1000) / Math.max(1, tokens),
    jsBusyShare: busy / sampled,
    threads: p.threads ?? [],
    summary,
  };
}

const lines = [];
const say = (s = "") => {
  lines.push(s);
  console.log(s);
};
say(
  `worker breakdown: --threads ${values.threads} --slots ${values.slots} --ctx ${values.ctx}, ` +
    `${values["num-prompts"]} prompts of ${values["input-len"]} tokens → ${values["output-len"]} ` +
    `tokens, --ignore-eos, temperature ${values.temperature}`,
);
for (const spec of values.model) {
  const [name, path] = spec.includes("=") ? spec.split(/=(.*)/s) : ["model", spec];
  for (const concurrency of values.concurrency.split(",").map(Number)) {
    const dir = join(work, `${name}-c${concurrency}-${Date.now()}`);
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const loadBefore = loadavg();
    const child = await startServe(name, path, port, dir);
    let metrics;
    try {
      metrics = bench(`http://127.0.0.1:${port}`, name, concurrency, join(dir, "bench.json"));
    } finally {
      await stop(child);
    }
    const loadAfter = loadavg();
    // The worker writes its profile and probe as it exits, a moment after the gateway.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && !readdirSync(dir).some((f) => f.startsWith("probe-"))) {
      await sleep(100);
    }
    const r = analyse(dir, concurrency);
    say(`\n### ${name}, concurrency ${concurrency}\n`);
    say(
      `load average ${loadBefore.map(f2).join(" ")} before, ${loadAfter.map(f2).join(" ")} after; ` +
        `bench: ${f1(metrics.outputThroughput)} output tok/s, ` +
        `${metrics.completed} completed, ${metrics.failed} failed`,
    );
    say("");
    say("| per generated token | value |\n|---|---|");
    say(`| tokens generated (worker, warm-up included) | ${r.tokens} |`);
    say(`| IPC messages sent by the worker | ${f2(r.ipcPerToken)} (${JSON.stringify(r.ipc)}) |`);
    say(`| calls into the native addon | ${f2(r.nativePerToken)} |`);
    say(
      `| sampleToken calls | ${f2(r.samplesPerToken)}, ${f2(r.sampleMs)} ms each (call to result) |`,
    );
    say(
      `| worker main thread busy in JS (CPU profile) | ${f2(r.jsBusyMsPerToken)} ms (${f1(r.jsBusyShare * 100)}% of the profile) |`,
    );
    say("");
    say("| per decode step (generation only) | value |\n|---|---|");
    say(`| steps, tokens per step | ${r.genSteps}, ${f2(r.tokensPerGenStep)} |`);
    say(
      `| batch sizes (tokens: steps) | ${Object.entries(r.histogram)
        .map(([k, n]) => `${k}: ${n}`)
        .join(", ")} |`,
    );
    say(`| llama.cpp decodeBatch, median | ${f2(r.decodeMsPerGenStep)} ms |`);
    say(`| wall time between decode starts, median | ${f2(r.wallMsPerGenStep)} ms |`);
    say(`| llama.cpp decodeBatch, mean | ${f2(r.decodeMeanMs)} ms |`);
    say(`| wall time between decode starts, mean | ${f2(r.wallMeanMs)} ms |`);
    say(`| decode share of the wall time (sums) | ${f1(r.decodeShare * 100)}% |`);
    say(
      `| sampleToken time per step, summed over its sequences | ${f2(r.sampleMsPerGenStep)} ms |`,
    );
    say(
      `| decode median by batch size: ms (ms per token) | ${r.decodeBySize
        .map(([k, ms, per]) => `${k}: ${f2(ms)} (${f2(per)})`)
        .join(", ")} |`,
    );
    say(
      `| worker CPU: main thread, other threads (libuv pool: decode, sampling) | ` +
        `${f2(r.mainCpuS)} s, ${f2(r.otherCpuS)} s |`,
    );
    say("");
    say(`native calls per generated token: ${r.calls.map(([k, v]) => `${k} ${f2(v)}`).join(", ")}`);
    if (r.threads.length > 0) {
      say(
        `worker threads, CPU s: ${r.threads.map((t) => `${t.name}#${t.tid} ${f2(t.cpuS)}`).join(", ")}`,
      );
    }
    say("\nCPU profile of the worker's main thread (bench/profile-summary.mjs):\n");
    say(r.summary.trim());
  }
}
if (values.markdown) writeFileSync(values.markdown, lines.join("\n") + "\n");
if (!values.keep) rmSync(work, { recursive: true, force: true });
else if (existsSync(work)) console.log(`\nprofiles and probe files kept in ${work}`);
