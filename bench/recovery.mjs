#!/usr/bin/env node
// Recovery time (RTO): a server that serves a registry model and has taken a backup is killed
// with SIGKILL; the clock starts at the kill and stops at the first completion answered by a
// server restored onto a fresh home:
//
//   SIGKILL → `bulwark backup restore ID --home NEW` (checks every digest, restores, verifies
//   the audit chain and the models) → `bulwark serve` on the new home → /readyz 200 → the first
//   completion, with a key made before the backup.
//
// The model files are already in the backup folder (the server's backups hold them by digest),
// as they are for a scheduled backup.
//
//   node bench/recovery.mjs [--model PATH] [--runs 3] [--threads 1] [--max-tokens 8] [--json FILE]
//
// --model defaults to /work/bench-models/random-134m-q8_0.gguf when it exists, else the 134M
// random model is generated (`bulwark models generate random`, 12 layers of width 768, Q8_0)
// into the bench's temporary folder. Run `npm run build` first. Everything lives in a fresh
// temporary folder, removed at the end; the servers listen on free 127.0.0.1 ports and are
// stopped by PID.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { freePort, stop, waitReady } from "./serve-child.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "bin", "bulwark.js");
const { values: opts } = parseArgs({
  options: {
    model: { type: "string" },
    runs: { type: "string", default: "3" },
    threads: { type: "string", default: "1" },
    "max-tokens": { type: "string", default: "8" },
    json: { type: "string" },
  },
});
const runs = Number(opts.runs);
const maxTokens = Number(opts["max-tokens"]);
const work = mkdtempSync(join(tmpdir(), "bulwark-recovery-"));
const children = new Set();
process.on("SIGINT", () => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(work, { recursive: true, force: true });
  process.exit(130);
});

function cli(args, env) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 600_000,
  });
  if (r.status !== 0) throw new Error(`bulwark ${args.join(" ")}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

function serve(home, port, config, env = {}) {
  const child = spawn(
    process.execPath,
    [
      bin,
      "serve",
      "--config",
      config,
      "--model",
      "rnd",
      "--port",
      String(port),
      "--admin-port",
      "0",
      "--threads",
      opts.threads,
      "--slots",
      "1",
      "--ctx",
      "512",
      "--gpu",
      "cpu",
    ],
    { env: { ...process.env, BULWARK_HOME: home, ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  children.add(child);
  child.once("exit", () => children.delete(child));
  child.stdout.resume();
  return child;
}

async function post(url, key, body) {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${url}: ${res.status} ${text}`);
  return JSON.parse(text);
}

const completion = (url, key) =>
  post(`${url}/v1/completions`, key, {
    model: "rnd",
    prompt: "Once upon a time",
    max_tokens: maxTokens,
    temperature: 0,
  });

/** The admin listener's URL from the server's "admin API listening" log line. */
function adminUrl(child) {
  return new Promise((resolve, reject) => {
    let buf = "";
    const onData = (d) => {
      buf += d;
      for (const line of buf.split("\n")) {
        if (line.includes("admin API listening")) {
          child.stdout.off("data", onData);
          resolve(JSON.parse(line).url);
        }
      }
    };
    child.stdout.on("data", onData);
    child.once("exit", () => reject(new Error("the server exited")));
  });
}

let model = opts.model;
if (!model) {
  model = "/work/bench-models/random-134m-q8_0.gguf";
  if (!existsSync(model)) {
    model = join(work, "random-134m-q8_0.gguf");
    console.error("generating the 134M random model …");
    cli(["models", "generate", "random", "--out", model]);
  }
}

const backups = join(work, "backups");
const config = join(work, "bulwark.yaml");
writeFileSync(
  config,
  `registry:\n  validateOnImport: header\n  backupsToKeep: 0\nbackup:\n  dir: ${backups}\n  includeModels: true\nrateLimits:\n  ipRpm: 0\n`,
);
const adminKey = cli(["keys", "generate"])
  .trim()
  .split(/\s+/)
  .find((w) => w.startsWith("bwk_"));

const results = [];
for (let run = 1; run <= runs; run++) {
  const homeA = join(work, `home-a-${run}`);
  const homeB = join(work, `home-b-${run}`);
  cli(["models", "import", model, "--name", "rnd", "--config", config], { BULWARK_HOME: homeA });
  const portA = await freePort();
  const a = serve(homeA, portA, config, { BULWARK_ADMIN_KEY: adminKey });
  const adminA = adminUrl(a);
  await waitReady(a, portA);
  const urlA = `http://127.0.0.1:${portA}`;
  const user = await post(`${await adminA}/admin/keys`, adminKey, { name: "client", role: "user" });
  await completion(urlA, user.key);
  const backup = await post(`${await adminA}/admin/backups`, adminKey);
  await completion(urlA, user.key);

  const load = loadavg()[0];
  const t0 = performance.now();
  a.kill("SIGKILL");
  await new Promise((r) =>
    a.exitCode !== null || a.signalCode !== null ? r() : a.once("exit", r),
  );
  cli(["backup", "restore", backup.id, "--from", backups, "--home", homeB, "--config", config]);
  const tRestored = performance.now();
  const portB = await freePort();
  const b = serve(homeB, portB, join(homeB, "config", "bulwark.yaml"));
  await waitReady(b, portB);
  const tReady = performance.now();
  const answer = await completion(`http://127.0.0.1:${portB}`, user.key);
  const tDone = performance.now();
  await stop(b);
  const r = {
    run,
    restoreSeconds: (tRestored - t0) / 1000,
    startToReadySeconds: (tReady - tRestored) / 1000,
    firstCompletionSeconds: (tDone - tReady) / 1000,
    totalSeconds: (tDone - t0) / 1000,
    completionTokens: answer.usage?.completion_tokens,
    backupBytes: backup.bytesTotal,
    loadAverageAtKill: load,
  };
  results.push(r);
  console.error(`run ${run}: ${r.totalSeconds.toFixed(2)} s`);
  rmSync(homeA, { recursive: true, force: true });
  rmSync(homeB, { recursive: true, force: true });
}

const sorted = results.map((r) => r.totalSeconds).sort((x, y) => x - y);
const median = sorted[Math.floor(sorted.length / 2)];
console.log(`\n### Recovery time: SIGKILL → restore → /readyz → first completion\n`);
console.log(
  `model: ${model}; ${cpus().length} cores; ${maxTokens} tokens; threads ${opts.threads}\n`,
);
console.log(
  "| run | restore (s) | start → ready (s) | first completion (s) | total (s) | load avg at kill |",
);
console.log(
  "| --- | ----------- | ----------------- | -------------------- | --------- | ---------------- |",
);
for (const r of results) {
  console.log(
    `| ${r.run} | ${r.restoreSeconds.toFixed(2)} | ${r.startToReadySeconds.toFixed(2)} | ` +
      `${r.firstCompletionSeconds.toFixed(2)} | ${r.totalSeconds.toFixed(2)} | ${r.loadAverageAtKill.toFixed(2)} |`,
  );
}
console.log(`\nmedian total: ${median.toFixed(2)} s`);
if (opts.json) writeFileSync(opts.json, JSON.stringify({ model, results, median }, null, 2));
rmSync(work, { recursive: true, force: true });
