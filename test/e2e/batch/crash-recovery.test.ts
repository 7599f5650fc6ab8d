import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey } from "../../../src/auth/index.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";
import { spawnServe, waitReady, type ServeProcess } from "../../helpers/serve-process.js";
import { api, jsonl, parseJsonl, upload } from "../../helpers/batch.js";

const modelPath = storiesModel();
const LINES = 200;

test("SIGKILL in the middle of a 200-line batch: after a restart it completes, every custom_id once, no line ran twice", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const home = mkdtempSync(join(tmpdir(), "bulwark-batch-crash-"));
  const adminKey = generateKey().full;
  const env = {
    ...process.env,
    BULWARK_HOME: home,
    BULWARK_ADMIN_KEY: adminKey,
    // Every line must run on the engine: no answer from the response cache.
    BULWARK_CACHE_ENABLED: "false",
  };
  const args = ["--model", `stories=${modelPath}`, "--port", "0", "--gpu", "cpu", "--ctx", "512"];
  let run: ServeProcess | undefined;
  t.after(() => {
    run?.child.kill("SIGKILL");
    rmSync(home, { recursive: true, force: true });
  });

  run = spawnServe(args, env);
  let url = await run.url;
  assert.ok(await waitReady(url, 60_000));
  const lines = Array.from({ length: LINES }, (_, i) =>
    JSON.stringify({
      custom_id: `line-${i}`,
      method: "POST",
      url: "/v1/completions",
      body: {
        model: "stories",
        prompt: `Story number ${i}:`,
        max_tokens: 48,
        ignore_eos: true,
        temperature: 0,
      },
    }),
  );
  const file = await upload(url, jsonl(lines), adminKey);
  assert.equal(file.status, 200, file.text);
  const created = await api(url, "POST", "/v1/batches", adminKey, {
    input_file_id: file.json.id,
    endpoint: "/v1/completions",
    completion_window: "24h",
  });
  assert.equal(created.status, 200, created.text);
  const id = created.json.id as string;

  // Kill it by PID once some lines are done and many are not.
  let before: any;
  const deadline = Date.now() + 120_000;
  do {
    await new Promise((r) => setTimeout(r, 50));
    before = (await api(url, "GET", `/v1/batches/${id}`, adminKey)).json;
  } while (before.request_counts.completed < 20 && Date.now() < deadline);
  assert.ok(before.request_counts.completed >= 20, JSON.stringify(before));
  assert.ok(before.request_counts.completed < LINES, "the batch was still running when killed");
  process.kill(run.child.pid!, "SIGKILL");
  await run.exit;

  run = spawnServe(args, env);
  url = await run.url;
  let after: any;
  const restartDeadline = Date.now() + 240_000;
  do {
    await new Promise((r) => setTimeout(r, 200));
    after = (await api(url, "GET", `/v1/batches/${id}`, adminKey)).json;
  } while (after.status !== "completed" && Date.now() < restartDeadline);
  assert.equal(after.status, "completed", JSON.stringify(after));
  assert.deepEqual(after.request_counts, { total: LINES, completed: LINES, failed: 0 });
  assert.ok(
    run.lines.some((l) => l.msg === "batches recovered: cut-short lines go back to the queue"),
  );

  const output = parseJsonl(
    (await api(url, "GET", `/v1/files/${after.output_file_id}/content`, adminKey)).text,
  );
  const ids = output.map((r) => r.custom_id).sort();
  assert.equal(ids.length, LINES, "one output line per request");
  assert.deepEqual(
    ids,
    lines.map((l) => JSON.parse(l).custom_id).sort(),
    "every custom_id exactly once",
  );
  for (const r of output) assert.equal(r.response.body.usage.completion_tokens, 48);

  // Engine calls, counted by the usage table (a row per request that ran to its end): exactly
  // one per line across both processes; a line cut by the kill never recorded one.
  const usage = await api(url, "GET", "/v1/usage", adminKey);
  assert.equal(usage.json.data[0].batch_requests, LINES, JSON.stringify(usage.json));
});
