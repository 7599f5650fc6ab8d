import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { validateModel } from "../../../src/models/index.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";
import { bulwark } from "../../helpers/cli.js";
import { tempDir, tinyGguf, writeBadFiles } from "../../helpers/model-files.js";

test("models validate passes stories260K and reports every check as JSON", (t) => {
  const stories = storiesModel();
  if (!stories) return t.skip(STORIES_MISSING);
  const r = bulwark(["models", "validate", stories, "--json", "--tokens", "32"]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stderr, /validating: loading the model/);
  const report = JSON.parse(r.stdout);
  assert.equal(report.ok, true);
  assert.equal(report.sha256, "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d");
  assert.deepEqual(
    report.checks.map((c: any) => c.name),
    ["format", "load", "tokenizer", "determinism", "speed", "perplexity", "memory"],
  );
  const ppl = report.checks.find((c: any) => c.name === "perplexity").values.perplexity;
  // A trained model on plain story text: far below the 512 of a uniform guess.
  assert.ok(ppl > 1 && ppl < 20, `perplexity ${ppl}`);
  const speed = report.checks.find((c: any) => c.name === "speed").values;
  assert.equal(speed.generatedTokens, 32);
  assert.ok(speed.generationTokensPerSecond > 0);
});

test("a quantized copy reports its perplexity next to the F32 model's", (t) => {
  const stories = storiesModel();
  if (!stories) return t.skip(STORIES_MISSING);
  const q8 = join(tempDir(), "q8.gguf");
  assert.equal(bulwark(["models", "quantize", stories, q8, "--type", "q8_0"]).status, 0);
  const r = bulwark(["models", "validate", q8, "--reference", stories, "--tokens", "16"]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(
    r.stdout,
    /PASS\s+reference\s+perplexity [\d.]+ against the reference's [\d.]+ \(×(0\.9|1\.0)\d*\)/,
  );
});

test("generated models pass a quick validation through the exported function", async () => {
  const dir = tempDir();
  const demo = join(dir, "demo.gguf");
  const random = join(dir, "random.gguf");
  assert.equal(bulwark(["models", "generate", "demo", "--out", demo]).status, 0);
  const g = ["models", "generate", "random", "--out", random, "--width", "64", "--layers", "2"];
  assert.equal(bulwark([...g, "--heads", "2", "--ff", "64", "--vocab", "600"]).status, 0);
  for (const path of [demo, random]) {
    const steps: string[] = [];
    const report = await validateModel(path, { quick: true }, (s) => steps.push(s));
    assert.equal(report.ok, true, JSON.stringify(report.checks));
    assert.deepEqual(
      report.checks.map((c) => c.name),
      ["format", "load", "tokenizer", "determinism", "memory"],
    );
    assert.ok(steps.includes("loading the model"));
  }
});

test("models validate fails bad files and names the failed check", () => {
  const dir = tempDir();
  const files = writeBadFiles(dir);
  for (const name of [
    "truncated.gguf",
    "wrong-magic.gguf",
    "model.pt",
    "oversized-header.gguf",
    "offset-past-end.gguf",
  ]) {
    const r = bulwark(["models", "validate", files[name]!]);
    assert.equal(r.status, 1, name);
    assert.match(r.stdout, /FAIL\s+format\s+model_/, name);
    assert.match(r.stderr, /bulwark: validation failed: format/, name);
  }
  // Structurally valid GGUF that llama.cpp cannot load (no tokenizer, no llama tensors).
  const hollow = join(dir, "hollow.gguf");
  writeFileSync(hollow, tinyGguf());
  const r = bulwark(["models", "validate", hollow, "--json"]);
  assert.equal(r.status, 1);
  const report = JSON.parse(r.stdout);
  assert.deepEqual(report.failed, ["load"]);
  assert.match(r.stderr, /validation failed: load/);
});
