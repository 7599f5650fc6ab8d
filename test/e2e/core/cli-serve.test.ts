import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { repoRoot, STORIES_MISSING, storiesModel } from "../../helpers/paths.js";

const bin = join(repoRoot(), "bin", "bulwark.js");
const modelPath = storiesModel();

function serve(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [bin, "serve", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, any>[] = [];
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const url = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      try {
        const parsed = JSON.parse(line);
        lines.push(parsed);
        if (parsed.msg === "listening") resolve(parsed.url);
      } catch {
        // not a log line
      }
    });
    child.once("exit", (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  url.catch(() => undefined); // a run that is expected to fail never listens
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, url, exit, lines, stderr: () => stderr };
}

test("a bad config value stops the start with the field's name and reason", async () => {
  const run = serve(["--model", "/nonexistent.gguf", "--port", "0"], {
    BULWARK_ENGINE_SLOTS: "zero",
  });
  assert.equal(await run.exit, 2);
  assert.match(run.stderr(), /engine\.slots \[env BULWARK_ENGINE_SLOTS\]: .*expected number/);
  const missing = serve(["--model", "/nonexistent.gguf", "--port", "0"]);
  assert.notEqual(await missing.exit, 0);
  assert.match(missing.stderr(), /models\[0\]\.path: cannot read the model file/);
});

test("SIGTERM drains: in-flight requests finish, workers stop, exit 0", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const run = serve([
    "--model",
    `stories=${modelPath}`,
    "--port",
    "0",
    "--gpu",
    "cpu",
    "--ctx",
    "512",
  ]);
  const url = await run.url;
  for (let i = 0; i < 600; i++) {
    if ((await fetch(`${url}/readyz`)).status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const pending = fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "stories",
      prompt: "Once upon a time",
      max_tokens: 400,
      ignore_eos: true,
      stream: true,
    }),
  }).then((r) => r.text());
  await new Promise((r) => setTimeout(r, 50));
  run.child.kill("SIGTERM");
  const body = await pending;
  assert.match(body, /"finish_reason":"length"/);
  assert.match(body, /data: \[DONE\]/);
  assert.equal(await run.exit, 0);
  assert.ok(run.lines.some((l) => l.msg === "stopped"));
  const workers = run.lines.filter((l) => l.msg === "engine worker ready").length;
  assert.equal(workers, 1);
});
