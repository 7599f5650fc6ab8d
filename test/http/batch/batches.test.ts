import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, fakeEngine, type TestServer } from "../../helpers/server.js";
import { api, chatLine, jsonl, parseJsonl, upload, waitForBatch } from "../../helpers/batch.js";

let s: TestServer;
const engine = fakeEngine();
before(async () => {
  s = await startTestServer(
    {
      models: [{ name: "fake", path: "/models/fake.gguf", slots: 2 }],
      batch: { maxRequestsPerBatch: 5, maxFileBytes: 4096 },
      cache: { enabled: false },
    },
    { replicaFactory: engine.factory },
  );
});
after(() => s.close());

const files = () => readdirSync(join(s.home, "files"));

test("a batch runs every line through the live endpoint: output equals the same requests sent live", async () => {
  const lines = [chatLine("a", "one"), chatLine("b", "two"), chatLine("c", "three")];
  const file = await upload(s.url, jsonl(lines));
  assert.equal(file.status, 200, file.text);
  assert.equal(file.json.object, "file");
  assert.equal(file.json.purpose, "batch");
  assert.match(file.json.id, /^file-/);
  const content = await fetch(`${s.url}/v1/files/${file.json.id}/content`);
  assert.equal(await content.text(), jsonl(lines));

  const created = await api(s.url, "POST", "/v1/batches", undefined, {
    input_file_id: file.json.id,
    endpoint: "/v1/chat/completions",
    completion_window: "24h",
    metadata: { job: "nightly" },
  });
  assert.equal(created.status, 200, created.text);
  assert.equal(created.json.object, "batch");
  assert.ok(["validating", "in_progress", "finalizing", "completed"].includes(created.json.status));
  assert.deepEqual(created.json.metadata, { job: "nightly" });
  assert.equal(created.json.expires_at - created.json.created_at, 86_400);

  const done = await waitForBatch(s.url, created.json.id, ["completed"]);
  assert.deepEqual(done.request_counts, { total: 3, completed: 3, failed: 0 });
  assert.equal(done.error_file_id, null);
  assert.ok(done.completed_at >= done.created_at);
  const output = await api(s.url, "GET", `/v1/files/${done.output_file_id}/content`);
  const results = parseJsonl(output.text);
  assert.deepEqual(results.map((r) => r.custom_id).sort(), ["a", "b", "c"]);
  for (const r of results) {
    assert.equal(r.response.status_code, 200);
    assert.equal(r.error, null);
    const line = JSON.parse(lines.find((l) => JSON.parse(l).custom_id === r.custom_id)!);
    const live = await api(s.url, "POST", "/v1/chat/completions", undefined, line.body);
    assert.deepEqual(r.response.body.choices, live.json.choices);
    // The prompt's cached tokens depend on what the slot held before: not compared.
    const usage = ({ prompt_tokens_details: _, ...u }: any) => u;
    assert.deepEqual(usage(r.response.body.usage), usage(live.json.usage));
  }
  const outFile = await api(s.url, "GET", `/v1/files/${done.output_file_id}`);
  assert.equal(outFile.json.purpose, "batch_output");
  // Each line's request log line names its batch (the live requests above name none).
  const lineLogs = s.logs.filter((l) => l.batch === created.json.id && l.msg === "request");
  assert.equal(lineLogs.length, 3, JSON.stringify(lineLogs));
  for (const l of lineLogs) {
    assert.equal(l.path, "/v1/chat/completions");
    assert.equal(l.status, 200, "a line's answer went out whole: not a client gone (499)");
  }
});

test("bad files are refused with the line number and nothing is kept", async () => {
  const before = files().length;
  const cases: [string, string, RegExp][] = [
    [jsonl([chatLine("a", "x"), "{not json"]), "invalid_file", /Line 2: not valid JSON/],
    [
      jsonl([chatLine("a", "x"), chatLine("b", "y", "no-such-model")]),
      "invalid_file",
      /Line 2: .*one model/,
    ],
    [
      jsonl([chatLine("a", "x", "no-such-model")]),
      "invalid_file",
      /Line 1: the model no-such-model/,
    ],
    [
      jsonl([chatLine("a", "x"), chatLine("a", "y")]),
      "invalid_file",
      /Line 2: custom_id "a" is repeated/,
    ],
    [
      jsonl(["a", "b", "c", "d", "e", "f"].map((id) => chatLine(id, "x"))),
      "invalid_file",
      /Line 6: a batch holds at most 5/,
    ],
    [
      jsonl([
        JSON.stringify({
          custom_id: "a",
          method: "POST",
          url: "/v1/chat/completions",
          body: { model: "fake" },
        }),
      ]),
      "invalid_file",
      /Line 1: .*messages/,
    ],
    [jsonl([chatLine("a", "x".repeat(5000))]), "file_too_large", /4096 bytes/],
    ["", "invalid_file", /no request/],
  ];
  for (const [content, code, message] of cases) {
    const res = await upload(s.url, content);
    assert.equal(res.json?.error?.code, code, res.text);
    assert.match(res.json.error.message, message);
    assert.ok(res.json.error.type);
  }
  const wrongPurpose = await upload(s.url, jsonl([chatLine("a", "x")]), undefined, "fine-tune");
  assert.equal(wrongPurpose.status, 400);
  assert.equal(files().length, before, "no file was kept");
  const list = await api(s.url, "GET", "/v1/files?purpose=batch&limit=100");
  for (const f of list.json.data) assert.equal(f.purpose, "batch");
});

test("batches and files are paged with after, limit and has_more", async () => {
  const file = await upload(s.url, jsonl([chatLine("p", "paging")]));
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const b = await api(s.url, "POST", "/v1/batches", undefined, {
      input_file_id: file.json.id,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    ids.push(b.json.id);
  }
  const first = await api(s.url, "GET", "/v1/batches?limit=2");
  assert.equal(first.json.object, "list");
  assert.deepEqual(
    first.json.data.map((b: any) => b.id),
    [ids[2], ids[1]],
  );
  assert.equal(first.json.has_more, true);
  assert.equal(first.json.last_id, ids[1]);
  const second = await api(s.url, "GET", `/v1/batches?limit=2&after=${first.json.last_id}`);
  assert.equal(second.json.data[0].id, ids[0]);
  const bad = await api(s.url, "GET", "/v1/batches?limit=0");
  assert.equal(bad.json.error.code, "invalid_request");
  for (const id of ids) await waitForBatch(s.url, id, ["completed"]);
});

test("endpoint, window and unknown ids are checked; a file read by a running batch cannot be deleted", async () => {
  const file = await upload(s.url, jsonl([chatLine("x", "y")]));
  const wrong = await api(s.url, "POST", "/v1/batches", undefined, {
    input_file_id: file.json.id,
    endpoint: "/v1/embeddings",
    completion_window: "24h",
  });
  assert.equal(wrong.json.error.code, "invalid_request");
  const window = await api(s.url, "POST", "/v1/batches", undefined, {
    input_file_id: file.json.id,
    endpoint: "/v1/chat/completions",
    completion_window: "1h",
  });
  assert.equal(window.json.error.param, "completion_window");
  assert.equal(
    (await api(s.url, "GET", "/v1/batches/batch_nope")).json.error.code,
    "batch_not_found",
  );
  assert.equal((await api(s.url, "GET", "/v1/files/file-nope")).status, 404);
  const deleted = await api(s.url, "DELETE", `/v1/files/${file.json.id}`);
  assert.deepEqual(deleted.json, { id: file.json.id, object: "file", deleted: true });
  assert.equal(
    (await api(s.url, "GET", `/v1/files/${file.json.id}`)).json.error.code,
    "file_not_found",
  );
});

test("cancel: no new line starts, the batch ends cancelled with what it completed", async () => {
  engine.controls.tokenDelayMs = 50;
  try {
    const lines = ["1", "2", "3", "4", "5"].map((id) => chatLine(id, `slow ${id}`));
    const file = await upload(s.url, jsonl(lines));
    const b = await api(s.url, "POST", "/v1/batches", undefined, {
      input_file_id: file.json.id,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    const inUse = await api(s.url, "DELETE", `/v1/files/${file.json.id}`);
    assert.equal(inUse.json.error.code, "file_in_use");
    const cancelled = await api(s.url, "POST", `/v1/batches/${b.json.id}/cancel`);
    assert.equal(cancelled.status, 200);
    assert.ok(["cancelling", "cancelled"].includes(cancelled.json.status));
    const done = await waitForBatch(s.url, b.json.id, ["cancelled"]);
    assert.ok(done.request_counts.completed < 5);
    assert.ok(done.cancelled_at >= done.cancelling_at);
    const again = await api(s.url, "POST", `/v1/batches/${b.json.id}/cancel`);
    assert.equal(again.json.status, "cancelled");
  } finally {
    engine.controls.tokenDelayMs = 0;
  }
});
