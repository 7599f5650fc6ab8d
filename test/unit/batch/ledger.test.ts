import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../../src/store/index.js";
import {
  BatchLedger,
  BatchRunner,
  FileStore,
  ResultFiles,
  type BatchRow,
  type LineExecutor,
} from "../../../src/batch/index.js";
import { createLogger } from "../../../src/observability/index.js";
import { Writable } from "node:stream";

const silent = createLogger({
  level: "fatal",
  destination: new Writable({ write: (_c, _e, d) => d() }),
});

function batchRow(id: string, over: Partial<BatchRow> = {}): BatchRow {
  return {
    id,
    owner: "k",
    client_ip: null,
    endpoint: "/v1/chat/completions",
    model: "m",
    input_file_id: "file-000000000000000000000001",
    completion_window: "24h",
    metadata: null,
    status: "in_progress",
    ending: null,
    errors: null,
    created_at: 1,
    in_progress_at: 1,
    expires_at: 4_000_000_000,
    finalizing_at: null,
    completed_at: null,
    failed_at: null,
    expired_at: null,
    cancelling_at: null,
    cancelled_at: null,
    output_file_id: "file-0000000000000000000000aa",
    error_file_id: "file-0000000000000000000000bb",
    total: 3,
    completed: 0,
    failed: 0,
    ...over,
  };
}

function setup(lines = 3) {
  const home = mkdtempSync(join(tmpdir(), "bulwark-ledger-"));
  const ledger = new BatchLedger(openDatabase(":memory:"));
  const store = new FileStore(home);
  const input = Array.from({ length: lines }, (_, i) =>
    JSON.stringify({
      custom_id: `c${i}`,
      method: "POST",
      url: "/v1/chat/completions",
      body: { n: i },
    }),
  );
  let offset = 0;
  const newLines = input.map((text, i) => {
    const l = { lineNo: i + 1, customId: `c${i}`, offset, length: Buffer.byteLength(text) + 1 };
    offset += l.length;
    return l;
  });
  writeFileSync(store.path("file-000000000000000000000001"), input.join("\n") + "\n");
  const row = batchRow("batch_000000000000000000000001", { total: lines });
  ledger.createBatch(row, newLines, 10);
  return { home, ledger, store, row, done: () => rmSync(home, { recursive: true, force: true }) };
}

test("claim marks a line running with its attempt counted before it runs; release puts it back", () => {
  const { ledger, row, done } = setup();
  const line = ledger.claim(row.id)!;
  assert.equal(line.custom_id, "c0");
  assert.equal(line.attempts, 1);
  assert.equal(ledger.line(row.id, "c0")!.status, "running");
  assert.equal(ledger.claim(row.id)!.custom_id, "c1", "a running line is not claimed twice");
  ledger.release(row.id, line.line_no, true);
  assert.deepEqual(
    { status: ledger.line(row.id, "c0")!.status, attempts: ledger.line(row.id, "c0")!.attempts },
    { status: "pending", attempts: 0 },
    "a refusal does not count as an attempt",
  );
  assert.equal(ledger.requeueRunning(), 1, "at start the running lines go back");
  done();
});

test("a finished line is never finished (or claimed) again", () => {
  const { ledger, row, done } = setup(1);
  const line = ledger.claim(row.id)!;
  assert.ok(
    ledger.finish(row.id, line.line_no, {
      status: "completed",
      file: "output",
      offset: 0,
      length: 10,
    }),
  );
  assert.ok(
    !ledger.finish(row.id, line.line_no, {
      status: "failed",
      file: "error",
      offset: 0,
      length: 10,
    }),
  );
  assert.equal(ledger.claim(row.id), undefined);
  assert.equal(ledger.batch(row.id)!.completed, 1);
  assert.equal(ledger.openLines(row.id), 0);
  done();
});

test("a batch and its lines are created together or not at all (the in-flight quota)", () => {
  const { ledger, done } = setup();
  assert.throws(
    () =>
      ledger.createBatch(
        batchRow("batch_000000000000000000000002"),
        [{ lineNo: 1, customId: "x", offset: 0, length: 1 }],
        1,
      ),
    /unfinished batches/,
  );
  assert.equal(ledger.batch("batch_000000000000000000000002"), undefined);
  assert.equal(ledger.line("batch_000000000000000000000002", "x"), undefined);
  done();
});

test("status changes follow the state machine", () => {
  const { ledger, row, done } = setup();
  assert.ok(!ledger.move(row.id, "completed", 5), "in_progress cannot jump to completed");
  assert.ok(ledger.move(row.id, "cancelling", 5));
  assert.ok(ledger.move(row.id, "finalizing", 6, { ending: "cancelled" }));
  assert.ok(ledger.move(row.id, "cancelled", 7));
  const after = ledger.batch(row.id)!;
  assert.deepEqual(
    [after.status, after.cancelling_at, after.finalizing_at, after.cancelled_at],
    ["cancelled", 5, 6, 7],
  );
  assert.ok(!ledger.move(row.id, "in_progress", 8));
  done();
});

test("recovery adopts a whole result line written after the last recorded one and cuts a partial one", async () => {
  const { ledger, store, row, done } = setup();
  const results = new ResultFiles(store);
  const a = ledger.claim(row.id)!;
  const where = await results.append(
    row.output_file_id,
    JSON.stringify({ custom_id: "c0", response: {} }),
  );
  ledger.finish(row.id, a.line_no, { status: "completed", file: "output", ...where });
  ledger.claim(row.id); // c1: its result reached the disk, the ledger never heard
  ledger.claim(row.id); // c2: cut off while being written
  appendFileSync(
    store.path(row.output_file_id),
    JSON.stringify({ custom_id: "c1", response: {} }) + "\n",
  );
  appendFileSync(store.path(row.output_file_id), '{"custom_id":"c2","resp');
  assert.equal(results.recover(ledger, row), 1);
  assert.equal(ledger.line(row.id, "c1")!.status, "completed");
  assert.equal(ledger.requeueRunning(), 1, "only c2 runs again");
  const text = readFileSync(store.path(row.output_file_id), "utf8");
  assert.deepEqual(
    text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).custom_id),
    ["c0", "c1"],
  );
  done();
});

test("the runner: a refusal waits uncounted, an engine failure is retried up to maxAttempts, then an error line", async () => {
  const { ledger, store, row, done } = setup(2);
  const answers: Record<string, { status: number; body: string }[]> = {
    c0: [
      { status: 429, body: "{}" },
      { status: 200, body: '{"ok":true}' },
    ],
    c1: [
      { status: 502, body: '{"error":{"code":"engine_failure"}}' },
      { status: 502, body: '{"error":{"code":"engine_failure"}}' },
    ],
  };
  const executor: LineExecutor = {
    async execute(l) {
      const next = answers[l.customId]!.shift()!;
      return { ...next, requestId: "r", retryAfterMs: 1 };
    },
  };
  const runner = new BatchRunner(
    ledger,
    store,
    executor,
    { concurrency: 2, maxAttempts: 2, pollMs: 10 },
    silent,
  );
  runner.start();
  const deadline = Date.now() + 10_000;
  while (ledger.batch(row.id)!.status !== "completed" && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await runner.close(1000);
  const b = ledger.batch(row.id)!;
  assert.equal(b.status, "completed");
  assert.deepEqual([b.completed, b.failed], [1, 1]);
  assert.equal(ledger.line(row.id, "c0")!.attempts, 1, "the 429 did not count");
  assert.equal(ledger.line(row.id, "c1")!.attempts, 2);
  const errors = readFileSync(store.path(row.error_file_id), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(errors.length, 1);
  assert.equal(errors[0].custom_id, "c1");
  assert.equal(errors[0].response.status_code, 502);
  assert.ok(ledger.file(row.output_file_id), "the output file became a file of the owner");
  done();
});

test("the runner: a batch past its window expires; its lines that never ran go to the error file", async () => {
  const { ledger, store, done } = setup(0);
  const row = batchRow("batch_000000000000000000000009", { expires_at: 1, total: 1, owner: "x" });
  writeFileSync(
    store.path(row.input_file_id),
    JSON.stringify({ custom_id: "late", body: {} }) + "\n",
  );
  ledger.createBatch(row, [{ lineNo: 1, customId: "late", offset: 0, length: 10 }], 10);
  const executor: LineExecutor = {
    execute: async () => assert.fail("an expired batch runs nothing"),
  };
  const runner = new BatchRunner(
    ledger,
    store,
    executor,
    { concurrency: 1, maxAttempts: 1, pollMs: 10 },
    silent,
  );
  runner.start();
  const deadline = Date.now() + 5_000;
  while (ledger.batch(row.id)!.status !== "expired" && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await runner.close(100);
  assert.equal(ledger.batch(row.id)!.status, "expired");
  const errors = readFileSync(store.path(row.error_file_id), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    errors.map((e) => [e.custom_id, e.error.code]),
    [["late", "batch_expired"]],
  );
  done();
});
