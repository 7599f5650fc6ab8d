#!/usr/bin/env node
// Bulwark against llama.cpp's llama-server, same model, same total thread budget, same bench.
// llama-server is built from the llama.cpp source that node-llama-cpp ships (the same commit as
// the addon Bulwark runs) by `bulwark engine build` (scripts/build-llama-server.sh), once.
//
//   node bench/compare-llama-server.mjs --model NAME=PATH [--model NAME=PATH ...]
//        [--concurrency 1,4,8] [--threads 1,2] [--modes stream,plain] [--num-prompts 16]
//        [--input-len 32] [--output-len 64] [--repeat 2] [--only TEXT,...]
//        [--docs docs/benchmarks.md]
//
// Server configurations for each thread budget T of --threads (8 slots of 512 tokens in all):
//   llama-server -t T -tb T -np 8 -c 4096                      (the baseline of budget T)
//   bulwark 1 replica × T threads, 8 slots, engine backend llama-server
//   bulwark T replicas × 1 thread, 8/T slots each, engine backend llama-server   (T > 1)
//   llama-server -t 1 -np 8                                    (T > 1: one thread can win)
//   bulwark 1 replica × T threads, 8 slots, engine backend node-llama-cpp
//   bulwark T replicas × 1 thread, 8/T slots each, node-llama-cpp                 (T > 1)
//   node-llama-cpp in process, one stream (stream mode, concurrency 1 only: the ceiling for
//   one stream through the binding)
// Each configuration is started --repeat times, alternating the order of the configurations
// between repeats so that drift of the shared machine hits all of them alike; each start runs
// `bulwark bench` (random prompts exact in tokens, new ones for every run, --ignore-eos,
// temperature 0, fixed concurrency) at every concurrency in every mode of --modes (stream:
// streamed requests; plain: `--no-stream`). While a server runs, the resident memory of its
// process tree (the server and all its descendants: for Bulwark the gateway, its workers and
// their llama-server processes) is summed from /proc every 200 ms; the report gives the peak.
// Prints a markdown report, one table per mode and budget; with --docs it also replaces the
// block between the compare-llama-server markers in that file.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir, cpus } from "node:os";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { engineBenchEnv, freePort, stop } from "./serve-child.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    model: { type: "string", multiple: true, default: [] },
    concurrency: { type: "string", default: "1,4,8" },
    // Thread budgets, comma-separated: each runs its own set of configurations.
    threads: { type: "string", default: "2" },
    // stream: streamed requests; plain: `bulwark bench --no-stream`.
    modes: { type: "string", default: "stream,plain" },
    "num-prompts": { type: "string", default: "16" },
    "input-len": { type: "string", default: "32" },
    "output-len": { type: "string", default: "64" },
    // Server starts per configuration.
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
const list = (s) =>
  s
    .split(",")
    .map((v) => v.trim())
    .filter(Boolean);
const budgets = list(values.threads).map(Number);
const concurrencies = list(values.concurrency).map(Number);
const modes = list(values.modes);
for (const m of modes) {
  if (m !== "stream" && m !== "plain") {
    console.error(`--modes takes stream and plain, got "${m}"`);
    process.exit(2);
  }
}
if (budgets.some((t) => !(Number.isInteger(t) && t >= 1))) {
  console.error(`--threads takes positive integers, got "${values.threads}"`);
  process.exit(2);
}
const repeat = Number(values.repeat);
const ctx = 512;
const work = mkdtempSync(join(tmpdir(), "bulwark-compare-"));
// Bulwark runs as deployed, with API keys on: each start gets a fresh home whose first admin key
// is this one, and every bench sends it (llama-server, started without --api-key, ignores it).
const { generateKey } = await import(join(root, "dist", "src", "auth", "index.js"));
const apiKey = generateKey().full;
// The baseline's requests carry the chat parser Bulwark's own llama-server requests carry: one
// that accepts any bytes. Without it llama-server's parser refuses output that is not UTF-8
// (1–2 of 16 requests a start on a random model), and each failure ends a request early, which
// both drops its tokens and staggers the closed loop's arrivals, so TTFT is no longer compared
// on the same schedule.
const { NO_CHAT_PARSER } = await import(
  join(root, "dist", "src", "engine", "llama-server", "request.js")
);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The bench seed of one run: every run of a server start gets prompts of its own, and every
 * configuration of the same repeat gets the same ones. llama-server keeps earlier prompts' states
 * in host memory (its --cache-ram, 8 GiB by default) and answers a prompt it has seen without
 * evaluating it, so a run that replayed an earlier run's prompts would measure that cache, not
 * the engine: the same seed for every run once gave the baseline a c8 TTFT of one decode step.
 */
const runSeed = (repeatIndex, modeIndex, concurrencyIndex) =>
  1 + repeatIndex * 1000 + modeIndex * 100 + concurrencyIndex;

let llamaServerPath;
/** The llama-server binary, built by `bulwark engine build` the first time it is needed. */
function llamaServer() {
  if (llamaServerPath) return llamaServerPath;
  const built = spawnSync(process.execPath, [join(root, "bin", "bulwark.js"), "engine", "build"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (built.status !== 0) throw new Error("building llama-server failed");
  llamaServerPath = built.stdout.trim().split("\n").at(-1);
  return llamaServerPath;
}

const pageSize = Number(spawnSync("getconf", ["PAGESIZE"], { encoding: "utf8" }).stdout) || 4096;

/** Resident bytes of `pid` and all its descendants, summed, from /proc. */
function treeRss(pid) {
  const children = new Map();
  const rss = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    // Fields after the command name, which may hold spaces and parentheses: state, ppid, …, rss
    // (field 24 of proc(5), in pages).
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ppid = Number(f[1]);
    rss.set(Number(entry), Number(f[21]) * pageSize);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(entry));
  }
  let total = 0;
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop();
    total += rss.get(p) ?? 0;
    todo.push(...(children.get(p) ?? []));
  }
  return total;
}

/** Starts a server process and waits until `readyPath` answers 200. */
async function startProcess(cmd, args, url, readyPath, env = {}) {
  const child = spawn(cmd, args, {
    stdio: ["ignore", "ignore", "pipe"],
    cwd: root,
    env: { ...process.env, ...env },
  });
  // Peak RSS of the process tree, sampled every 200 ms from the start until the process exits.
  child.peakRss = 0;
  const sampler = setInterval(() => {
    child.peakRss = Math.max(child.peakRss, treeRss(child.pid));
  }, 200);
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  let exited = false;
  child.once("exit", () => {
    exited = true;
    clearInterval(sampler);
  });
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

const stopProcess = (child) => stop(child, 15_000);

/** The configurations of thread budget T, the llama-server baseline first. */
function configs(path, name, T) {
  const llama = (threads) => ({
    label: `llama-server -t ${threads} -np 8`,
    extraBody: { chat_parser: NO_CHAT_PARSER },
    start: (port) =>
      startProcess(
        llamaServer(),
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
  const bulwark = (replicas, threads, slots, backend) => ({
    label: `bulwark ${replicas}×${threads} thread${threads > 1 ? "s" : ""}, ${slots} slots each, ${backend}`,
    start: (port) => {
      if (backend === "llama-server") llamaServer();
      return startProcess(
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
        engineBenchEnv(mkdtempSync(join(work, "home-")), apiKey),
      );
    },
  });
  const split = Math.max(1, Math.floor(8 / T));
  const all = [llama(T), bulwark(1, T, 8, "llama-server")];
  if (T > 1) all.push(bulwark(T, 1, split, "llama-server"), llama(1));
  all.push(bulwark(1, T, 8, "node-llama-cpp"));
  if (T > 1) all.push(bulwark(T, 1, split, "node-llama-cpp"));
  const only = values.only?.split(",");
  return only ? all.filter((c) => only.some((o) => c.label.includes(o))) : all;
}

/** One `bulwark bench` run; its metrics, or null when the run itself failed (printed). */
function bench(url, name, concurrency, mode, seed, extraBody) {
  const out = join(work, `r-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  const n = Number(values["num-prompts"]);
  const args = [
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
  ];
  if (mode === "plain") args.push("--no-stream");
  if (extraBody) args.push("--extra-body", JSON.stringify(extraBody));
  // Asynchronous, so that the RSS sampler keeps running during the bench.
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, OPENAI_API_KEY: apiKey },
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
    const timer = setTimeout(() => child.kill("SIGKILL"), Number(values.timeout) * 1000 * (n + 4));
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        console.error(`bench failed (${code ?? signal}): ${stderr}`);
        resolve(null);
      } else {
        resolve(JSON.parse(readFileSync(out, "utf8")).metrics);
      }
    });
  });
}

function inProcess(path, T) {
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
const spread = (v, digits = 1) =>
  v.length > 1 ? ` (${Math.min(...v).toFixed(digits)}–${Math.max(...v).toFixed(digits)})` : "";
const mib = (bytes) => bytes / 2 ** 20;

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
  `Bench: \`bulwark bench --dataset random --input-len ${values["input-len"]} --output-len ${values["output-len"]} --ignore-eos --temperature 0 --concurrency C --num-prompts ${values["num-prompts"]}\` (plain mode adds \`--no-stream\`: TTFT is then the whole latency), ${repeat} server start(s) per configuration, thread budget(s) ${budgets.join(", ")}; cells give the median and, in brackets, the range over starts. Peak RSS: the server's whole process tree, sampled every 200 ms.`,
);
for (const spec of values.model) {
  const eq = spec.indexOf("=");
  const name = spec.slice(0, eq);
  const path = spec.slice(eq + 1);
  for (const T of budgets) {
    const cfgs = configs(path, name, T);
    if (cfgs.length === 0) continue;
    // results: label → mode → concurrency → metrics of each start
    const results = new Map(
      cfgs.map((c) => [
        c.label,
        new Map(modes.map((m) => [m, new Map(concurrencies.map((k) => [k, []]))])),
      ]),
    );
    const peaks = new Map(cfgs.map((c) => [c.label, []]));
    for (let r = 0; r < repeat; r++) {
      const order = r % 2 === 0 ? cfgs : [...cfgs].reverse();
      for (const cfg of order) {
        const port = await freePort();
        const child = await cfg.start(port);
        try {
          for (const [mi, mode] of modes.entries()) {
            for (const [ci, c] of concurrencies.entries()) {
              const seed = runSeed(r, mi, ci);
              const m = await bench(`http://127.0.0.1:${port}`, name, c, mode, seed, cfg.extraBody);
              if (m) results.get(cfg.label).get(mode).get(c).push(m);
              console.error(
                `${name} T=${T} ${cfg.label} ${mode} c=${c}: ${m ? `${m.outputThroughput.toFixed(1)} tok/s, failed ${m.failed} ${JSON.stringify(m.failuresByKind)}` : "run failed"}`,
              );
            }
          }
        } finally {
          await stopProcess(child);
        }
        peaks.get(cfg.label).push(child.peakRss);
      }
    }
    const base = cfgs[0].label;
    const baseNote = base.startsWith("llama-server") ? "" : " (llama-server not selected)";
    for (const mode of modes) {
      say();
      say(
        `#### ${name} (${path.split("/").at(-1)}), thread budget ${T}, ${mode === "stream" ? "streamed" : "plain (--no-stream)"}`,
      );
      say();
      say(
        `| concurrency | server | output tok/s | ratio to ${base}${baseNote} | TTFT p50 ms | TTFT p95 ms | TPOT p50 ms | E2E p95 ms | failed |`,
      );
      say("|---|---|---|---|---|---|---|---|---|");
      for (const c of concurrencies) {
        const baseMs = results.get(base).get(mode).get(c);
        const baseTps = baseMs.length ? median(baseMs.map((m) => m.outputThroughput)) : 0;
        for (const cfg of cfgs) {
          const ms = results.get(cfg.label).get(mode).get(c);
          if (ms.length === 0) {
            say(`| ${c} | ${cfg.label} | every run failed | | | | | | |`);
            continue;
          }
          const tps = ms.map((m) => m.outputThroughput);
          const ttft = ms.map((m) => m.ttftMs.percentiles.p50);
          const ttft95 = ms.map((m) => m.ttftMs.percentiles.p95);
          const tpot = ms.map((m) => m.tpotMs.percentiles.p50);
          const e2e = ms.map((m) => m.e2eMs.percentiles.p95);
          say(
            `| ${c} | ${cfg.label} | ${median(tps).toFixed(1)}${spread(tps)} | ${cfg.label === base ? "1.00" : ratio(median(tps), baseTps)} | ${median(ttft).toFixed(2)} | ${median(ttft95).toFixed(2)}${spread(ttft95)} | ${median(tpot).toFixed(3)} | ${median(e2e).toFixed(1)} | ${ms.reduce((n, m) => n + m.failed, 0)} |`,
          );
        }
        const single = cfgs.find(
          (cfg) => cfg.label.startsWith("bulwark 1×") && cfg.label.endsWith("node-llama-cpp"),
        );
        const singleMs = single ? results.get(single.label).get(mode).get(1) : [];
        if (mode === "stream" && c === 1 && singleMs?.length) {
          const ip = inProcess(path, T);
          const httpTps = median(singleMs.map((m) => m.outputThroughput));
          say(
            `| 1 | node-llama-cpp in process, ${T} thread(s) | ${ip.outputTokensPerS.toFixed(1)} | ${ratio(ip.outputTokensPerS, baseTps)} | ${ip.ttftMs.toFixed(2)} | | ${ip.tpotMs.toFixed(3)} | ${ip.e2eMs.toFixed(1)} | 0 |`,
          );
          say(
            `| 1 | **${single.label} over HTTP ÷ in process** | **${(httpTps / ip.outputTokensPerS).toFixed(2)}** | | | | | | |`,
          );
        }
      }
    }
    say();
    say(
      `Peak RSS of each server's process tree, ${name}, thread budget ${T}, 8 slots of ${ctx} tokens in all:`,
    );
    say();
    say(`| server | peak RSS MiB | ratio to ${base}${baseNote} |`);
    say("|---|---|---|");
    const baseRss = median(peaks.get(base));
    for (const cfg of cfgs) {
      const p = peaks.get(cfg.label).map(mib);
      say(
        `| ${cfg.label} | ${median(p).toFixed(0)}${spread(p, 0)} | ${ratio(median(p), mib(baseRss))} |`,
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
