#!/usr/bin/env node
// Bulwark against llama.cpp's llama-server, same model, same total thread budget, same bench.
// llama-server is built from the llama.cpp source that node-llama-cpp ships (the same commit as
// the addon Bulwark runs) by `bulwark engine build` (scripts/build-llama-server.sh), once.
//
//   node bench/compare-llama-server.mjs --model NAME=PATH [--model NAME=PATH ...]
//        [--concurrency 1,4,8] [--threads 2] [--num-prompts 16] [--input-len 32]
//        [--output-len 64] [--repeat 2] [--docs docs/benchmarks.md]
//
// Server configurations, each given the same --threads budget:
//   llama-server -t T -np 8          (one context, T threads, 8 slots)
//   llama-server -t 1 -np 8          (one thread: on a small shared CPU it can win)
//   bulwark 1 replica × T threads, 8 slots
//   bulwark 1 replica × T threads, 8 slots, engine.backend llama-server
//   bulwark T replicas × 1 thread, 8/T slots each (weights shared through mmap)
//   node-llama-cpp in process, one stream (concurrency 1 only: the ceiling for one stream)
// Each configuration runs `bulwark bench` (random prompts exact in tokens, --ignore-eos,
// temperature 0, fixed concurrency) --repeat times, alternating servers between repeats so that
// drift of the shared machine hits all of them alike. Prints a markdown report; with --docs it
// also replaces the block between the compare-llama-server markers in that file.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { loadavg, tmpdir, cpus } from "node:os";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    model: { type: "string", multiple: true, default: [] },
    concurrency: { type: "string", default: "1,4,8" },
    threads: { type: "string", default: "2" },
    "num-prompts": { type: "string", default: "16" },
    "input-len": { type: "string", default: "32" },
    "output-len": { type: "string", default: "64" },
    repeat: { type: "string", default: "2" },
    // Per-request limit of the bench, in s: oversubscribed llama.cpp threads can be 1000× slower.
    timeout: { type: "string", default: "60" },
    docs: { type: "string" },
    // Only the configurations whose label contains one of these comma-separated texts
    // (e.g. "llama-server -t 1,bulwark 2×1").
    only: { type: "string" },
  },
});
if (values.model.length === 0) {
  console.error("usage: node bench/compare-llama-server.mjs --model NAME=PATH [...]");
  process.exit(2);
}
const T = Number(values.threads);
const concurrencies = values.concurrency.split(",").map(Number);
const repeat = Number(values.repeat);
const work = mkdtempSync(join(tmpdir(), "bulwark-compare-"));
// Bulwark runs as deployed, with API keys on: each start gets a fresh home whose first admin key
// is this one, and every bench sends it (llama-server, started without --api-key, ignores it).
const { generateKey } = await import(join(root, "dist", "src", "auth", "index.js"));
const apiKey = generateKey().full;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

let llamaServer;
const only = values.only?.split(",");
if (!only || only.some((o) => o.includes("llama") || "llama-server".includes(o))) {
  const built = spawnSync(process.execPath, [join(root, "bin", "bulwark.js"), "engine", "build"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (built.status !== 0) throw new Error("building llama-server failed");
  llamaServer = built.stdout.trim().split("\n").at(-1);
}

/** Starts a server process and waits until `readyPath` answers 200. */
async function startProcess(cmd, args, url, readyPath, env = {}) {
  const child = spawn(cmd, args, {
    stdio: ["ignore", "ignore", "pipe"],
    cwd: root,
    env: { ...process.env, ...env },
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  let exited = false;
  child.once("exit", () => (exited = true));
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${cmd} exited: ${stderr}`);
    const res = await fetch(url + readyPath).catch(() => undefined);
    if (res?.status === 200) return child;
    await sleep(200);
  }
  child.kill("SIGKILL");
  throw new Error(`${cmd} did not get ready: ${stderr}`);
}

async function stopProcess(child) {
  if (child.exitCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await gone;
  clearTimeout(timer);
}

function configs(path, name) {
  const ctx = 512;
  const llama = (threads) => ({
    label: `llama-server -t ${threads} -np 8`,
    start: (port) =>
      startProcess(
        llamaServer,
        [
          "-m",
          path,
          "--host",
          "127.0.0.1",
          "--port",
          String(port),
          "-t",
          String(threads),
          "-tb",
          String(threads),
          "-np",
          "8",
          "-c",
          String(ctx * 8),
          "-ngl",
          "0",
          "--no-webui",
        ],
        `http://127.0.0.1:${port}`,
        "/health",
      ),
  });
  const bulwark = (replicas, threads, slots, backend = "node-llama-cpp") => ({
    label:
      `bulwark ${replicas}×${threads} thread${threads > 1 ? "s" : ""}, ${slots} slots each` +
      (backend === "node-llama-cpp" ? "" : `, ${backend}`),
    start: (port) =>
      startProcess(
        process.execPath,
        [
          join(root, "bin", "bulwark.js"),
          "serve",
          "--model",
          `${name}=${path}`,
          "--port",
          String(port),
          "--threads",
          String(threads),
          "--replicas",
          String(replicas),
          "--slots",
          String(slots),
          "--ctx",
          String(ctx),
          "--gpu",
          "cpu",
          "--admin-port",
          "0",
          "--log-level",
          "warn",
          "--engine-backend",
          backend,
        ],
        `http://127.0.0.1:${port}`,
        "/readyz",
        {
          BULWARK_HOME: mkdtempSync(join(work, "home-")),
          BULWARK_ADMIN_KEY: apiKey,
        },
      ),
  });
  const list = [llama(T), bulwark(1, T, 8), bulwark(1, T, 8, "llama-server")];
  if (T > 1) list.push(llama(1), bulwark(T, 1, Math.max(1, Math.floor(8 / T))));
  return only ? list.filter((c) => only.some((o) => c.label.includes(o))) : list;
}

/** One `bulwark bench` run; its metrics, or null when the run itself failed (printed). */
function bench(url, name, concurrency, seed) {
  const out = join(work, `r-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  const n = Number(values["num-prompts"]);
  const run = spawnSync(
    process.execPath,
    [
      join(root, "bin", "bulwark.js"),
      "bench",
      "--url",
      url,
      "--model",
      name,
      "--dataset",
      "random",
      "--input-len",
      values["input-len"],
      "--output-len",
      values["output-len"],
      "--ignore-eos",
      "--temperature",
      "0",
      "--concurrency",
      String(concurrency),
      "--num-prompts",
      String(n),
      "--warmup",
      String(Math.min(concurrency, 4)),
      "--seed",
      String(seed),
      "--no-progress",
      "--timeout",
      values.timeout,
      "--output",
      out,
    ],
    {
      encoding: "utf8",
      timeout: Number(values.timeout) * 1000 * (n + 4),
      env: { ...process.env, OPENAI_API_KEY: apiKey },
    },
  );
  if (run.status !== 0) {
    console.error(`bench failed (${run.status ?? run.signal}): ${run.stderr}`);
    return null;
  }
  return JSON.parse(readFileSync(out, "utf8")).metrics;
}

function inProcess(path) {
  const run = spawnSync(
    process.execPath,
    [
      join(root, "bench", "inprocess-stream.mjs"),
      "--model",
      path,
      "--threads",
      String(T),
      "--input-len",
      values["input-len"],
      "--output-len",
      values["output-len"],
      "--runs",
      "5",
    ],
    { encoding: "utf8", timeout: 600_000 },
  );
  if (run.status !== 0) throw new Error(`in-process run failed: ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split("\n").at(-1));
}

const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
// A baseline that completed nothing has no ratio.
const ratio = (a, base) => (base > 0 ? (a / base).toFixed(2) : "—");
const spread = (v) =>
  v.length > 1 ? ` (${Math.min(...v).toFixed(1)}–${Math.max(...v).toFixed(1)})` : "";

const lines = [];
const say = (s = "") => {
  lines.push(s);
  console.log(s);
};
say(
  `Measured ${new Date().toISOString()} on ${cpus().length} × ${cpus()[0]?.model ?? "CPU"}; load average at start ${loadavg()
    .map((v) => v.toFixed(2))
    .join(" ")}.`,
);
say(
  `Bench: \`bulwark bench --dataset random --input-len ${values["input-len"]} --output-len ${values["output-len"]} --ignore-eos --temperature 0 --concurrency C --num-prompts ${values["num-prompts"]}\`, ${repeat} repeat(s) per cell, thread budget ${T}; cells give the median and, in brackets, the range over repeats.`,
);
for (const spec of values.model) {
  const eq = spec.indexOf("=");
  const name = spec.slice(0, eq);
  const path = spec.slice(eq + 1);
  const list = configs(path, name);
  const results = new Map(list.map((c) => [c.label, new Map(concurrencies.map((k) => [k, []]))]));
  for (let r = 0; r < repeat; r++) {
    const order = r % 2 === 0 ? list : [...list].reverse();
    for (const cfg of order) {
      const port = await freePort();
      const child = await cfg.start(port);
      try {
        for (const c of concurrencies) {
          const m = bench(`http://127.0.0.1:${port}`, name, c, r);
          if (m) results.get(cfg.label).get(c).push(m);
          console.error(
            `${name} ${cfg.label} c=${c}: ${m ? `${m.outputThroughput.toFixed(1)} tok/s, failed ${m.failed} ${JSON.stringify(m.failuresByKind)}` : "run failed"}`,
          );
        }
      } finally {
        await stopProcess(child);
      }
    }
  }
  const base = list[0].label;
  say();
  say(`#### ${name} (${path.split("/").at(-1)})`);
  say();
  say(
    "| concurrency | server | output tok/s | ratio to " +
      base +
      " | TTFT p50 ms | TPOT p50 ms | E2E p95 ms | failed |",
  );
  say("|---|---|---|---|---|---|---|---|");
  for (const c of concurrencies) {
    const baseTps = median(
      results
        .get(base)
        .get(c)
        .map((m) => m.outputThroughput),
    );
    for (const cfg of list) {
      const ms = results.get(cfg.label).get(c);
      if (ms.length === 0) {
        say(`| ${c} | ${cfg.label} | every run failed | | | | | |`);
        continue;
      }
      const tps = ms.map((m) => m.outputThroughput);
      const ttft = ms.map((m) => m.ttftMs.percentiles.p50);
      const tpot = ms.map((m) => m.tpotMs.percentiles.p50);
      const e2e = ms.map((m) => m.e2eMs.percentiles.p95);
      say(
        `| ${c} | ${cfg.label} | ${median(tps).toFixed(1)}${spread(tps)} | ${ratio(median(tps), baseTps)} | ${median(ttft).toFixed(2)} | ${median(tpot).toFixed(3)} | ${median(e2e).toFixed(1)} | ${ms.reduce((n, m) => n + m.failed, 0)} |`,
      );
    }
    const single = list.find((cfg) => cfg.label.startsWith("bulwark 1×"));
    if (c === 1 && single) {
      const ip = inProcess(path);
      const httpTps = median(
        results
          .get(single.label)
          .get(1)
          .map((m) => m.outputThroughput),
      );
      say(
        `| 1 | node-llama-cpp in process, ${T} thread(s) | ${ip.outputTokensPerS.toFixed(1)} | ${ratio(ip.outputTokensPerS, baseTps)} | ${ip.ttftMs.toFixed(2)} | ${ip.tpotMs.toFixed(3)} | ${ip.e2eMs.toFixed(1)} | 0 |`,
      );
      say(
        `| 1 | **${single.label} over HTTP ÷ in process** | **${(httpTps / ip.outputTokensPerS).toFixed(2)}** | | | | | |`,
      );
    }
  }
}
say();
say(
  `Load average at the end: ${loadavg()
    .map((v) => v.toFixed(2))
    .join(" ")}.`,
);
rmSync(work, { recursive: true, force: true });

if (values.docs) {
  const begin = "<!-- compare-llama-server:begin -->";
  const end = "<!-- compare-llama-server:end -->";
  const doc = readFileSync(values.docs, "utf8");
  const a = doc.indexOf(begin);
  const b = doc.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${values.docs} has no ${begin} … ${end} block`);
  writeFileSync(
    values.docs,
    doc.slice(0, a + begin.length) + "\n" + lines.join("\n") + "\n" + doc.slice(b),
  );
}
