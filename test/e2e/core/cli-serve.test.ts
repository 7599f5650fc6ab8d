import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey } from "../../../src/auth/index.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";
import { spawnServe, waitReady } from "../../helpers/serve-process.js";

const modelPath = storiesModel();

const serve = (args: string[], env: Record<string, string> = {}) =>
  spawnServe(args, { ...process.env, ...env });

test("a bad config value stops the start with the field's name and reason", async (t) => {
  // A home of its own: the store it opens must not be the user's ~/.bulwark.
  const home = mkdtempSync(join(tmpdir(), "bulwark-serve-"));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const run = serve(["--model", "/nonexistent.gguf", "--port", "0"], {
    BULWARK_ENGINE_SLOTS: "zero",
    BULWARK_HOME: home,
  });
  assert.equal(await run.exit, 2);
  assert.match(run.stderr(), /engine\.slots \[env BULWARK_ENGINE_SLOTS\]: .*expected number/);
  const missing = serve(["--model", "/nonexistent.gguf", "--port", "0"], { BULWARK_HOME: home });
  assert.notEqual(await missing.exit, 0);
  assert.match(missing.stderr(), /models\[0\]\.path: cannot read the model file/);
});

test("SIGTERM drains: in-flight requests finish, workers stop, exit 0", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  // Auth is on by default: the first admin key comes from BULWARK_ADMIN_KEY on a fresh home.
  const home = mkdtempSync(join(tmpdir(), "bulwark-serve-"));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const adminKey = generateKey().full;
  const run = serve(
    ["--model", `stories=${modelPath}`, "--port", "0", "--gpu", "cpu", "--ctx", "512"],
    { BULWARK_HOME: home, BULWARK_ADMIN_KEY: adminKey },
  );
  const url = await run.url;
  const open = await fetch(`${url}/v1/models`);
  assert.equal(open.status, 401);
  await waitReady(url, 60_000);
  const warm = await fetch(`${url}/v1/models`, {
    headers: { authorization: `Bearer ${adminKey}` },
  });
  assert.equal(warm.status, 200);
  const response = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${adminKey}` },
    body: JSON.stringify({
      model: "stories",
      prompt: "Once upon a time",
      max_tokens: 400,
      ignore_eos: true,
      stream: true,
    }),
  });
  // The stream has started (its headers went out with the first token): the request is in flight.
  assert.equal(response.status, 200);
  run.child.kill("SIGTERM");
  const body = await response.text();
  assert.match(body, /"finish_reason":"length"/);
  assert.match(body, /data: \[DONE\]/);
  assert.equal(await run.exit, 0);
  assert.ok(run.lines.some((l) => l.msg === "stopped"));
  const workers = run.lines.filter((l) => l.msg === "engine worker ready").length;
  assert.equal(workers, 1);
});
