/**
 * `bulwark bench` end to end: the real CLI, as a child process, against a real Bulwark server on
 * the fake engine (code-point tokenizer, so prompt lengths in tokens are checkable exactly).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fakeEngine, startTestServer, type TestServer } from "../../helpers/server.js";
import { repoRoot } from "../../helpers/paths.js";

const bin = join(repoRoot(), "bin", "bulwark.js");
let server: TestServer;
let dir: string;
const engine = fakeEngine({ tokenDelayMs: 1 });

before(async () => {
  server = await startTestServer(
    { models: [{ name: "fake", path: "/models/fake.gguf" }], engine: { slots: 4 } },
    { replicaFactory: engine.factory },
  );
  dir = await mkdtemp(join(tmpdir(), "bulwark-bench-"));
});
after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

function bench(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [bin, "bench", ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const SUMMARY_KEYS = ["count", "mean", "median", "std", "min", "max", "percentiles"];

test("random dataset, open loop: every metric in the JSON, counts add up, exact prompt lengths", async () => {
  const out = join(dir, "random.json");
  const chart = join(dir, "random.svg");
  const run = await bench([
    "--url",
    server.url,
    "--model",
    "fake",
    "--num-prompts",
    "12",
    "--warmup",
    "2",
    "--input-len",
    "40",
    "--output-len",
    "6",
    "--request-rate",
    "200",
    "--max-concurrency",
    "3",
    "--seed",
    "7",
    "--ignore-eos",
    "--goodput",
    "ttft:60000",
    "e2el:60000",
    "--output",
    out,
    "--chart",
    chart,
  ]);
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(await readFile(out, "utf8"));
  assert.equal(result.config.requestRate, 200);
  const m = result.metrics;
  assert.equal(result.tokenizer, "vllm");
  assert.equal(m.requests, 12);
  assert.equal(m.completed + m.failed, m.requests);
  assert.equal(m.failed, 0, JSON.stringify(m.failuresByKind));
  assert.equal(result.requests.length, 12);
  for (const key of ["ttftMs", "tpotMs", "itlMs", "e2eMs", "queueMs"]) {
    assert.deepEqual(Object.keys(m[key]).sort(), [...SUMMARY_KEYS].sort(), key);
    assert.deepEqual(Object.keys(m[key].percentiles), ["p50", "p90", "p95", "p99"]);
  }
  for (const key of ["requestThroughput", "outputThroughput", "totalTokenThroughput", "goodput"]) {
    assert.ok(m[key] > 0, key);
  }
  assert.equal(m.goodCompleted, 12);
  // Exact lengths: the fake engine's usage counts BOS + one token per code point.
  for (const r of result.requests) {
    assert.equal(r.promptTokens, 40);
    assert.equal(r.outputTokens, 6);
    // Bulwark streams 6 token chunks and then the finish_reason chunk (choices, empty delta):
    // as in vLLM, every chunk with choices counts, so 7 chunks give 6 gaps.
    assert.equal(r.itlMs.length, 6, "one gap per chunk with choices after the first");
    assert.ok(r.e2eMs >= r.ttftMs);
  }
  assert.equal(m.totalInputTokens, 12 * 40);
  assert.equal(m.totalOutputTokens, 12 * 6);
  assert.equal(m.itlMs.count, 12 * 6);
  assert.equal(m.tpotMs.count, 12);
  // Bulwark's x-bulwark-cache header adds the response cache's line (sampled requests: bypass).
  assert.deepEqual(
    result.verdicts.map((v: { kpi: string }) => v.kpi),
    ["p95_latency", "error_rate", "throughput", "cache_hit_rate", "response_cache"],
  );
  assert.equal(m.responseHitRate, 0);
  assert.ok(result.requests.every((r: { responseCache?: string }) => r.responseCache === "bypass"));
  assert.match(run.stdout, /\| Successful requests \| 12 \|/);
  assert.match(run.stdout, /PASS error rate < 1%: 0\.00% \(0 of 12\)/);
  assert.match(run.stderr, /requests \[#+\] 12\/12/, "progress bar");
  assert.match(await readFile(chart, "utf8"), /^<svg[\s\S]*TTFT[\s\S]*<\/svg>\n$/);
});

test("fixed concurrency with builtin and jsonl datasets, API key from the environment", async () => {
  const jsonl = join(dir, "prompts.jsonl");
  await writeFile(
    jsonl,
    '{"prompt": "hello", "output_len": 3}\n{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}\n',
  );
  const chat = await bench(
    [
      "--url",
      `${server.url}/v1`,
      "--model",
      "fake",
      "--endpoint",
      "chat",
      "--dataset",
      "jsonl",
      "--dataset-path",
      jsonl,
      "--num-prompts",
      "4",
      "--concurrency",
      "2",
      "--no-progress",
      "--output",
      join(dir, "jsonl.json"),
    ],
    { OPENAI_API_KEY: "sk-unused" },
  );
  assert.equal(chat.code, 0, chat.stderr);
  const j = JSON.parse(await readFile(join(dir, "jsonl.json"), "utf8"));
  assert.equal(j.config.requestRate, null);
  assert.equal(j.metrics.completed, 4);
  assert.deepEqual(
    j.requests.map((r: { outputTokens: number }) => r.outputTokens),
    [3, 4, 3, 4],
  );
  assert.equal(JSON.stringify(j).includes("sk-unused"), false, "the key never reaches the result");
  assert.equal(chat.stderr, "", "no progress bar with --no-progress");

  const builtin = await bench([
    "--url",
    server.url,
    "--model",
    "fake",
    "--dataset",
    "builtin",
    "--num-prompts",
    "5",
    "--concurrency",
    "5",
    "--output-len",
    "2",
    "--no-progress",
  ]);
  assert.equal(builtin.code, 0, builtin.stderr);
  assert.match(builtin.stdout, /\| Total generated tokens \| 10 \|/);
});

test("--no-stream: plain requests, TTFT is the whole latency, no ITL, tokens from usage", async () => {
  const out = join(dir, "plain.json");
  const run = await bench([
    "--url",
    server.url,
    "--model",
    "fake",
    "--num-prompts",
    "6",
    "--input-len",
    "20",
    "--output-len",
    "5",
    "--concurrency",
    "2",
    "--ignore-eos",
    "--no-stream",
    "--no-progress",
    "--output",
    out,
  ]);
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(await readFile(out, "utf8"));
  assert.equal(result.config.stream, false);
  const m = result.metrics;
  assert.equal(m.completed, 6);
  assert.equal(m.failed, 0, JSON.stringify(m.failuresByKind));
  assert.equal(m.totalOutputTokens, 6 * 5);
  assert.equal(m.itlMs.count, 0);
  for (const r of result.requests) {
    assert.equal(r.ttftMs, r.e2eMs);
    assert.deepEqual(r.itlMs, []);
    assert.equal(r.promptTokens, 20);
    assert.equal(r.outputTokens, 5);
  }

  const bad = await bench([
    "--url",
    server.url,
    "--model",
    "nope",
    "--dataset",
    "builtin",
    "--num-prompts",
    "2",
    "--no-stream",
    "--no-progress",
    "--output",
    join(dir, "plain-bad.json"),
  ]);
  assert.equal(bad.code, 0, bad.stderr);
  const b = JSON.parse(await readFile(join(dir, "plain-bad.json"), "utf8"));
  assert.equal(b.metrics.failed, 2);
  assert.match(Object.keys(b.metrics.failuresByKind)[0]!, /^http_404/);
});

test("--extra-body adds its fields to every request, last, so they win", async () => {
  const out = join(dir, "extra.json");
  const run = await bench([
    "--url",
    server.url,
    "--model",
    "fake",
    "--num-prompts",
    "4",
    "--input-len",
    "10",
    "--output-len",
    "8",
    "--concurrency",
    "2",
    "--ignore-eos",
    "--extra-body",
    '{"max_tokens": 3, "seed": 11}',
    "--no-progress",
    "--output",
    out,
  ]);
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(await readFile(out, "utf8"));
  assert.deepEqual(result.config.extraBody, { max_tokens: 3, seed: 11 });
  assert.equal(result.metrics.failed, 0, JSON.stringify(result.metrics.failuresByKind));
  // The server generated what the extra field asked for, not --output-len.
  for (const r of result.requests) assert.equal(r.outputTokens, 3);

  for (const [value, message] of [
    ["{nope", /--extra-body is not JSON/],
    ["[1]", /--extra-body must be a JSON object/],
    ["null", /--extra-body must be a JSON object/],
  ] as const) {
    const bad = await bench(["--url", server.url, "--model", "fake", "--extra-body", value]);
    assert.equal(bad.code, 2, value);
    assert.match(bad.stderr, message);
  }
});

test("failures are counted by kind; repeat-mix marks repeats and prefixes", async () => {
  const run = await bench([
    "--url",
    server.url,
    "--model",
    "nope",
    "--dataset",
    "builtin",
    "--num-prompts",
    "3",
    "--no-progress",
    "--output",
    join(dir, "bad.json"),
  ]);
  assert.equal(run.code, 0, run.stderr);
  const bad = JSON.parse(await readFile(join(dir, "bad.json"), "utf8"));
  // Neither --request-rate nor --concurrency: the default unbounded rate, written "inf".
  assert.equal(bad.config.requestRate, "inf");
  assert.equal(bad.metrics.failed, 3);
  assert.equal(bad.metrics.errorRate, 1);
  assert.deepEqual(Object.values(bad.metrics.failuresByKind), [3]);
  assert.match(Object.keys(bad.metrics.failuresByKind)[0]!, /^http_404/);
  assert.match(run.stdout, /FAIL error rate < 1%: 100\.00% \(3 of 3\)/);

  const mix = await bench([
    "--url",
    server.url,
    "--model",
    "fake",
    "--dataset",
    "repeat-mix",
    "--num-prompts",
    "20",
    "--input-len",
    "30",
    "--prefix-len",
    "12",
    "--output-len",
    "2",
    "--repeat-share",
    "0.4",
    "--prefix-share",
    "0.4",
    "--concurrency",
    "4",
    "--no-progress",
    "--output",
    join(dir, "mix.json"),
  ]);
  assert.equal(mix.code, 0, mix.stderr);
  const m = JSON.parse(await readFile(join(dir, "mix.json"), "utf8"));
  const roles = m.requests.map((r: { cacheRole: string }) => r.cacheRole);
  assert.ok(roles.includes("repeat") && roles.includes("prefix") && roles.includes("unique"));
  assert.ok(m.requests.every((r: { promptTokens: number }) => r.promptTokens === 30));
});

test("bad flags stop with a message and exit 2", async () => {
  const run = await bench([
    "--url",
    server.url,
    "--model",
    "fake",
    "--concurrency",
    "2",
    "--request-rate",
    "3",
  ]);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /--concurrency or --request-rate, not both/);
  const goodput = await bench(["--url", server.url, "--model", "fake", "--goodput", "ttft=5"]);
  assert.equal(goodput.code, 2);
  assert.match(goodput.stderr, /--goodput: goodput "ttft=5" is not KEY:MS/);
});
