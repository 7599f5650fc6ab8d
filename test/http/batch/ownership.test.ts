import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { call, MODEL, startSecureServer, type SecureServer } from "../../helpers/access.js";
import { api, chatLine, jsonl, parseJsonl, upload, waitForBatch } from "../../helpers/batch.js";

let s: SecureServer;
before(async () => {
  s = await startSecureServer({
    batch: { maxFilesPerKey: 3, maxBatchesInFlightPerKey: 1 },
    cache: { enabled: false },
  });
});
after(() => s.close());

test("files and batches belong to their key: another key gets 404 and lists none of them", async () => {
  const a = await s.createKey({ name: "owner-a", role: "user" });
  const b = await s.createKey({ name: "owner-b", role: "user" });
  const url = s.server.url;
  assert.equal(
    (await upload(url, jsonl([chatLine("x", "y", MODEL)]))).json.error.code,
    "missing_api_key",
  );
  const file = await upload(url, jsonl([chatLine("x", "y", MODEL)]), a.key);
  assert.equal(file.status, 200, file.text);
  const id = file.json.id;
  for (const path of [`/v1/files/${id}`, `/v1/files/${id}/content`]) {
    const res = await api(url, "GET", path, b.key);
    assert.equal(res.status, 404);
    assert.equal(res.json.error.code, "file_not_found");
  }
  assert.equal((await api(url, "DELETE", `/v1/files/${id}`, b.key)).status, 404);
  assert.equal((await api(url, "GET", "/v1/files", b.key)).json.data.length, 0);
  const stolen = await api(url, "POST", "/v1/batches", b.key, {
    input_file_id: id,
    endpoint: "/v1/chat/completions",
    completion_window: "24h",
  });
  assert.equal(stolen.json.error.code, "file_not_found");

  const batch = await api(url, "POST", "/v1/batches", a.key, {
    input_file_id: id,
    endpoint: "/v1/chat/completions",
    completion_window: "24h",
  });
  assert.equal(batch.status, 200, batch.text);
  assert.equal((await api(url, "GET", `/v1/batches/${batch.json.id}`, b.key)).status, 404);
  assert.equal((await api(url, "POST", `/v1/batches/${batch.json.id}/cancel`, b.key)).status, 404);
  assert.equal((await api(url, "GET", "/v1/batches", b.key)).json.data.length, 0);
  const done = await waitForBatch(url, batch.json.id, ["completed"], a.key);
  assert.equal((await api(url, "GET", `/v1/files/${done.output_file_id}`, b.key)).status, 404);
  const out = parseJsonl(
    (await api(url, "GET", `/v1/files/${done.output_file_id}/content`, a.key)).text,
  );
  assert.equal(out[0].response.status_code, 200);

  // The line ran as key a: its usage row says so, and counts it as a batch line.
  const usage = await call(`${s.server.adminUrl}/admin/usage?key=${a.id}`, s.adminKey);
  assert.equal(usage.json.data[0].batch_requests, 1, JSON.stringify(usage.json));
  assert.equal(usage.json.data[0].requests, 1);
  assert.equal(usage.json.data[0].errors, 0, "a line answered whole is no error");
});

test("per-key quotas: files held and batches in flight", async () => {
  const k = await s.createKey({ name: "quota", role: "user" });
  const url = s.server.url;
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const f = await upload(url, jsonl([chatLine(`q${i}`, "y", MODEL)]), k.key);
    assert.equal(f.status, 200, f.text);
    ids.push(f.json.id);
  }
  const over = await upload(url, jsonl([chatLine("q", "y", MODEL)]), k.key);
  assert.equal(over.status, 429);
  assert.equal(over.json.error.code, "quota_exceeded");
  s.engine.controls.tokenDelayMs = 200;
  try {
    const first = await api(url, "POST", "/v1/batches", k.key, {
      input_file_id: ids[0],
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    assert.equal(first.status, 200);
    const second = await api(url, "POST", "/v1/batches", k.key, {
      input_file_id: ids[1],
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    assert.equal(second.json.error.code, "quota_exceeded");

    // The admin API sees every key's batches and can cancel one; the cancel is audited.
    const all = await call(`${s.server.adminUrl}/admin/batches?limit=100`, s.adminKey);
    const listed = all.json.data.find((b: any) => b.id === first.json.id);
    assert.equal(listed.owner, k.id);
    const user = await call(`${s.server.adminUrl}/admin/batches`, k.key);
    assert.equal(user.status, 403);
    const cancel = await call(
      `${s.server.adminUrl}/admin/batches/${first.json.id}/cancel`,
      s.adminKey,
      "POST",
    );
    assert.equal(cancel.status, 200, cancel.text);
    await waitForBatch(url, first.json.id, ["cancelled"], k.key);
    const audit = await call(`${s.server.adminUrl}/admin/audit`, s.adminKey);
    const entry = audit.json.data.find((e: any) => e.action === "batch.cancelled");
    assert.equal(entry.target, first.json.id);
  } finally {
    s.engine.controls.tokenDelayMs = 0;
  }
});

test("a client cannot pose as a batch line with the internal header", async () => {
  const res = await call(
    `${s.server.url}/v1/chat/completions`,
    undefined,
    "POST",
    {
      model: MODEL,
      messages: [{ role: "user", content: "x" }],
    },
    { "x-bulwark-batch-line": `${"00".repeat(32)}.batch_000000000000000000000000.eA` },
  );
  assert.equal(res.status, 401);
  assert.equal(res.json.error.code, "missing_api_key");
});

test("a batch goes at its key's pace: lines refused by its limits wait and run later, uncounted", async () => {
  // 120 requests a minute: one every 0.5 s after a short burst; 4 lines at once are refused
  // in part (429 with Retry-After) and run when the limit lets them.
  const k = await s.createKey({ name: "paced", role: "user", rpm: 120, concurrency: 1 });
  const url = s.server.url;
  const lines = ["p1", "p2", "p3", "p4"].map((id) => chatLine(id, "paced", MODEL));
  const file = await upload(url, jsonl(lines), k.key);
  assert.equal(file.status, 200, file.text);
  const batch = await api(url, "POST", "/v1/batches", k.key, {
    input_file_id: file.json.id,
    endpoint: "/v1/chat/completions",
    completion_window: "24h",
  });
  // Polled through the admin API: the key's own requests would count against its limit.
  let done: any;
  for (let i = 0; i < 150 && done?.status !== "completed"; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const all = await call(`${s.server.adminUrl}/admin/batches?limit=100`, s.adminKey);
    done = all.json.data.find((b: any) => b.id === batch.json.id);
  }
  assert.equal(done.status, "completed", JSON.stringify(done));
  assert.deepEqual(done.request_counts, { total: 4, completed: 4, failed: 0 });
  assert.equal(done.error_file_id, null, "no line failed for the limits");
  const metrics = await call(`${url}/metrics`, s.adminKey);
  const retried = /bulwark_batch_lines_total\{outcome="retried"\} (\d+)/.exec(metrics.text);
  assert.ok(retried && Number(retried[1]) > 0, "some lines were refused and waited");
});
