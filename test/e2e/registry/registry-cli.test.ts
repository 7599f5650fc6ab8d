import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { repoRoot, STORIES_GREEDY_64, STORIES_MISSING, storiesModel } from "../../helpers/paths.js";
import { flipByte } from "../../helpers/registry.js";
import { tempDir } from "../../helpers/model-files.js";
import { startFakeHub } from "../../helpers/fake-hub.js";
import { spawnServe, waitReady } from "../../helpers/serve-process.js";
import { generateKey } from "../../../src/auth/index.js";

const bin = join(repoRoot(), "bin", "bulwark.js");
const model = storiesModel();
const STORIES_SHA = "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a child: this one's, without a config file, with BULWARK_HOME. */
function childEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, BULWARK_HOME: home, ...extra };
  delete env.BULWARK_CONFIG;
  return env;
}

function cli(home: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, [bin, ...args], {
    env: childEnv(home, env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stdout, stderr })));
}

const adminKeys = new Map<string, string>();

/** Starts `bulwark serve`, sends one completion once it is ready, stops it; returns its log. */
async function serveOnce(home: string, spec: string, env: Record<string, string> = {}) {
  // Auth is on by default: a home's first admin key comes from BULWARK_ADMIN_KEY at its first
  // start, and stays its key for the later starts.
  const adminKey = adminKeys.get(home) ?? generateKey().full;
  adminKeys.set(home, adminKey);
  const run = spawnServe(
    [
      "--model",
      spec,
      "--port",
      "0",
      "--gpu",
      "cpu",
      "--threads",
      "1",
      "--ctx",
      "256",
      "--slots",
      "1",
    ],
    childEnv(home, { ...env, BULWARK_ADMIN_KEY: adminKey }),
  );
  const url = await run.url.catch(() => undefined);
  let text: string | undefined;
  if (url) {
    await waitReady(url, 30_000);
    const res = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${adminKey}` },
      body: JSON.stringify({
        model: "stories",
        prompt: "Once upon a time",
        max_tokens: 8,
        temperature: 0,
      }),
    });
    text = ((await res.json()) as any).choices?.[0]?.text;
    run.child.kill("SIGTERM");
  }
  const code = await run.exit;
  return { code, lines: run.lines, stderr: run.stderr(), text };
}

/** The model's greedy continuation of "Once upon a time": served by the real model. */
function assertStory(text: string | undefined): void {
  assert.ok(text && text.length > 10 && STORIES_GREEDY_64.startsWith(text), String(text));
}

test("CLI: import, list, verify, promote, rollback, rm, backup and restore", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const home = tempDir("bulwark-cli-");
  t.after(() => rmSync(home, { recursive: true, force: true }));
  let run = await cli(home, ["models", "import", model, "--name", "stories"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /imported stories:1\n\s+sha256\s+270cba1b/);
  assert.match(run.stderr, /import \[#+\] 1\.1 MiB \/ 1\.1 MiB .*\/s {2}ETA 0:00/);
  run = await cli(home, ["models", "import", model, "--name", "stories", "--version", "2"]);
  assert.equal(run.code, 0, run.stderr);
  run = await cli(home, ["models", "import", model, "--name", "stories", "--version", "2"]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /stories:2 is already in the registry/);
  run = await cli(home, ["models", "verify"]);
  assert.equal(run.code, 0);
  assert.match(run.stdout, /ok {3}stories:1\nok {3}stories:2/);
  run = await cli(home, ["models", "promote", "stories:2"]);
  assert.equal(run.stdout.trim(), "stories:latest → 2");
  run = await cli(home, ["models", "list"]);
  assert.match(run.stdout, /stories:1 {2}1\.1 MiB {2}llama F32 .*\nstories:2 \(latest\)/);
  run = await cli(home, ["models", "rollback", "stories"]);
  assert.equal(run.stdout.trim(), "stories:latest → 1");
  run = await cli(home, ["models", "rm", "stories:1"]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /in use \(stories:latest points at it\)/);
  const out = join(home, "backup");
  run = await cli(home, ["models", "backup", "stories:2", "--to", out]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(
    readFileSync(join(out, "SHA256SUMS"), "utf8"),
    new RegExp(`${STORIES_SHA}  stories/2/model.gguf`),
  );
  run = await cli(home, ["models", "rm", "stories:2"]);
  assert.equal(run.code, 0, run.stderr);
  // Restore refuses a backup with a bad byte, then registers the good one.
  flipByte(join(out, "stories", "2", "model.gguf"), 4096);
  run = await cli(home, ["models", "restore", "--from", out]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /nothing restored; the backup fails its checksums/);
  flipByte(join(out, "stories", "2", "model.gguf"), 4096);
  run = await cli(home, ["models", "restore", "--from", out]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /restored stories:2/);
  run = await cli(home, ["models", "verify", "stories:2"]);
  assert.match(run.stdout, /ok {3}stories:2/);
});

test("CLI: corrupt one byte, then restart: the load is refused, restored from backup, served", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const home = tempDir("bulwark-repair-");
  t.after(() => rmSync(home, { recursive: true, force: true }));
  assert.equal((await cli(home, ["models", "import", model, "--name", "stories"])).code, 0);
  const file = join(home, "models", "stories", "1", "model.gguf");
  const first = await serveOnce(home, "stories");
  assertStory(first.text);
  flipByte(file, 2000);
  const again = await serveOnce(home, "stories");
  const refused = again.lines.find((l) => l.alert === "model_corrupted");
  assert.ok(refused, again.stderr);
  assert.match(refused.msg, /refusing to load stories:1: fingerprint .* differs/);
  assert.ok(again.lines.some((l) => l.alert === "model_restored"));
  assertStory(again.text);
  const verify = await cli(home, ["models", "verify", "stories"]);
  assert.match(verify.stdout, /ok {3}stories:1/);
  // A truncated file takes the same path.
  truncateSync(file, 500_000);
  const cut = await serveOnce(home, "stories:1");
  assert.match(
    cut.lines.find((l) => l.alert === "model_corrupted")?.msg ?? "",
    /size is 500000 bytes/,
  );
  assertStory(cut.text);
  // With the backup damaged as well, the start is refused.
  flipByte(join(home, "models", ".backups", "stories", "1", "model.gguf"), 100);
  flipByte(file, 100);
  const dead = await serveOnce(home, "stories");
  assert.notEqual(dead.code, 0);
  assert.match(dead.stderr, /stories:1 is damaged and has no intact backup copy/);
});

test("CLI: a load that would exceed the memory threshold is refused with the numbers", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const home = tempDir("bulwark-memory-");
  t.after(() => rmSync(home, { recursive: true, force: true }));
  assert.equal((await cli(home, ["models", "import", model, "--name", "stories"])).code, 0);
  // Load admission's threshold: the registry checks the whole model before any worker starts.
  const run = await serveOnce(home, "stories", { BULWARK_GUARDS_WARN_PERCENT: "1" });
  assert.equal(run.code, 1);
  assert.match(
    run.stderr,
    /Loading a replica of model stories:1 needs an estimated [\d.]+ MiB \(weights [\d.]+ MiB, KV cache [\d.]+ MiB, process [\d.]+ MiB\); [\d.]+ MiB is in use, which would make [\d.]+ MiB of the [\d.]+ MiB limit \([\d.]+%\), over the warn threshold of 1% \([\d.]+ MiB\)\./,
  );
});

test("CLI: killing an import mid-copy leaves no half entry", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const home = tempDir("bulwark-crash-");
  t.after(() => rmSync(home, { recursive: true, force: true }));
  // A valid GGUF followed by 512 MiB of padding (a sparse file): the copy takes a while.
  const big = join(home, "big.gguf");
  writeFileSync(big, readFileSync(model));
  truncateSync(big, 512 * 1024 * 1024);
  // Header checks only: the toolkit's load validation rightly rejects the padded file.
  const child = spawn(process.execPath, [bin, "models", "import", big, "--name", "big"], {
    env: childEnv(home, { BULWARK_REGISTRY_VALIDATE_ON_IMPORT: "header" }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exit = new Promise((r) => child.once("exit", r));
  let progress = "";
  await new Promise<void>((resolve, reject) => {
    child.stderr.on("data", (d) => {
      progress += d;
      if (progress.includes("import [")) resolve();
    });
    child.once("exit", () => reject(new Error(`import ended before copying: ${progress}`)));
  });
  const staging = join(home, "models", ".staging");
  assert.equal(readdirSync(staging).length, 1, "the copy is under way in staging");
  child.kill("SIGKILL");
  await exit;
  const list = await cli(home, ["models", "list", "--json"]);
  assert.deepEqual(JSON.parse(list.stdout), []);
  assert.deepEqual(readdirSync(staging), []);
  assert.equal(existsSync(join(home, "models", "big")), false);
  const again = await cli(home, ["models", "import", model, "--name", "big"]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /imported big:1/);
});

test("CLI: pull from a hub, with progress, into the registry", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const home = tempDir("bulwark-pull-");
  const hub = await startFakeHub([
    { repo: "o/r", path: "stories.gguf", data: readFileSync(model) },
  ]);
  t.after(async () => {
    await hub.close();
    rmSync(home, { recursive: true, force: true });
  });
  hub.cutAfter = { bytes: 300_000, times: 1 };
  const env = { BULWARK_REGISTRY_HUB_URL: hub.url };
  const run = await cli(home, ["models", "pull", "hf:o/r/stories.gguf", "--name", "st"], env);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /pulled st:1/);
  assert.match(run.stderr, /download interrupted; resuming with a Range request/);
  assert.match(run.stderr, /stories\.gguf \[#+\] 1\.1 MiB \/ 1\.1 MiB/);
  const missing = await cli(home, ["models", "pull", "hf:o/r/nothing.gguf"], env);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /bulwark: o\/r has no file nothing\.gguf \(404\)/);
});

test("CLI: importing a llama2.c checkpoint converts it to GGUF, validates and registers it", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const home = tempDir("bulwark-convert-");
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const ckpt = join(home, "stories.bin");
  const exported = await cli(home, ["models", "export-llama2c", model, ckpt]);
  assert.equal(exported.code, 0, exported.stderr);
  const run = await cli(home, ["models", "import", ckpt, "--name", "conv"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /not GGUF: converting it to GGUF first/);
  assert.match(run.stdout, /imported conv:1\n/);
  assert.match(run.stdout, /architecture {2}llama/);
  assert.match(run.stdout, /determinism: seed \d+ gave the same/);
  const list = JSON.parse((await cli(home, ["models", "list", "--json"])).stdout);
  assert.equal(list[0].name, "conv");
  const manifest = JSON.parse(
    readFileSync(join(home, "models", "conv", "1", "manifest.json"), "utf8"),
  );
  assert.equal(manifest.source, `file:${ckpt}`);
  assert.equal(manifest.format, "gguf");
});
